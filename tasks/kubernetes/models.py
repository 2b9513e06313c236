"""Params and results of the Kubernetes steps: the contract runbooks are validated against."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warroom import capacity
from warroom.duration import Duration
from warroom.steps import ChangeResult, StepResult

DNS1123 = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class DeploymentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="default", pattern=DNS1123, max_length=63)
    deployment: str = Field(pattern=DNS1123, max_length=253)
    context: str | None = Field(
        default=None, description="kubeconfig context; default: the setting kube_context, then current"
    )


# --- diagnostics -------------------------------------------------------------------------------------


class RolloutHistoryParams(DeploymentRef):
    limit: int = Field(default=10, ge=1, le=100)


class Revision(BaseModel):
    revision: int
    replica_set: str
    images: list[str]
    replicas: int = 0
    created: datetime | None = None
    change_cause: str | None = None


class RolloutHistoryResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    revisions: list[Revision] = Field(description="Newest first")
    current_revision: int | None
    previous_revision: int | None
    current_images: list[str]
    previous_images: list[str]
    last_change: datetime | None
    last_change_minutes: float | None = Field(description="Minutes since the current revision took over")
    paused: bool = False


class DeploymentStatusResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    desired: int
    updated: int
    ready: int
    available: int
    conditions: list[dict[str, str]]
    stuck: bool = Field(description="Progress deadline exceeded")
    complete: bool
    paused: bool
    reason: str

    @property
    def trouble(self) -> bool:
        return self.stuck or self.available < self.desired


class PodHealthParams(DeploymentRef):
    limit: int = Field(default=50, ge=1, le=1000, description="Pods listed (worst first); counts cover all")


class PodState(BaseModel):
    name: str
    phase: str
    ready: bool
    restarts: int
    reasons: list[str] = Field(
        description="CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable, ..."
    )
    node: str | None
    revision: int | None = None
    message: str | None = None


class PodHealthResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    total: int
    ready: int
    unhealthy: int
    restarts: int
    reasons: dict[str, int]
    pods: list[PodState] = Field(description="Worst first")

    @property
    def trouble(self) -> bool:
        return self.unhealthy > 0 or self.ready < self.total


class EventsParams(DeploymentRef):
    since: Duration = timedelta(hours=1)
    limit: int = Field(default=50, ge=1, le=500)


class EventsResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    total: int
    reasons: dict[str, int]
    warnings: list[dict[str, str | int]] = Field(
        description="Newest first: kind, name, reason, message, count"
    )


class LogsParams(DeploymentRef):
    pods: int = Field(default=3, ge=1, le=20, description="How many of the worst pods")
    tail_lines: int = Field(default=200, ge=1, le=5000)
    max_bytes: int = Field(default=64_000, ge=1_000, le=1_000_000, description="For all logs together")


class LogsResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    logs: dict[str, str] = Field(description="'pod/container' (and 'pod/container (previous)') -> last lines")
    truncated: bool


class RevisionHealth(BaseModel):
    revision: int
    images: list[str]
    pods: int
    ready: int
    restarts: int
    reasons: dict[str, int]


class BaselineResult(StepResult):
    namespace: str
    deployment: str
    summary: str
    current_revision: int | None
    baseline_revision: int | None
    current: RevisionHealth | None
    baseline: RevisionHealth | None
    differences: list[str]
    regressed: bool

    @property
    def trouble(self) -> bool:
        return self.regressed


# --- mitigations -------------------------------------------------------------------------------------


class RollbackParams(DeploymentRef):
    to_revision: int | None = Field(default=None, ge=1, description="Default: the previous revision")
    wait: Duration = Field(default=timedelta(minutes=5), description="Wait this long for the rollout")


class ScaleParams(DeploymentRef):
    replicas: int | None = Field(default=None, ge=0, description="Absolute")
    change: str | None = Field(default=None, description="Relative: +50%, -2, x2")
    min_replicas: int = Field(default=1, ge=0, description="Never below")
    max_replicas: int = Field(default=100, ge=1, description="Never above")
    wait: Duration = Field(default=timedelta(minutes=5), description="Wait this long for the new replicas")

    @field_validator("change")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        return capacity.check_relative(v)

    @model_validator(mode="after")
    def _one_way(self) -> ScaleParams:
        if (self.replicas is None) == (self.change is None):
            raise ValueError("give either replicas (absolute) or change (relative), not both or neither")
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        return self


class RestartParams(DeploymentRef):
    wait: Duration = Field(default=timedelta(minutes=5), description="Wait this long for the rollout")


class DeploymentChange(ChangeResult):
    namespace: str
    deployment: str
    summary: str
    error: str | None = Field(
        default=None,
        description="Why nothing changed: refused, not_found, forbidden, conflict, invalid, unreachable, ...",
    )
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    way_back: str
    revision: int | None = None
    ready: bool | None = Field(default=None, description="The rollout finished within the wait")
    rollout: str | None = Field(default=None, description="The rollout's last state, as kubectl says it")
