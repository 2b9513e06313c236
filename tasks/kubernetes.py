"""Kubernetes steps: diagnostics of a Deployment and its mitigations (rollback, scale, restart).

The params and result models are the contract runbooks are validated against. The implementations
arrive with the Kubernetes issue; until then the steps are declared, so runbooks that use them validate,
and a run that reaches one says plainly that it is not available in this build.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.duration import Duration
from warroom.steps import StepKind, declare

DNS1123 = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class DeploymentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="default", pattern=DNS1123, max_length=63)
    deployment: str = Field(pattern=DNS1123, max_length=253)
    context: str | None = Field(
        default=None, description="kubeconfig context; default: current or in-cluster"
    )


class RolloutHistoryParams(DeploymentRef):
    limit: int = Field(default=10, ge=1, le=100)


class Revision(BaseModel):
    revision: int
    replica_set: str
    images: list[str]
    created: datetime | None = None
    change_cause: str | None = None


class RolloutHistoryResult(BaseModel):
    namespace: str
    deployment: str
    revisions: list[Revision]
    current_revision: int | None
    current_images: list[str]
    previous_images: list[str]
    last_change_minutes: float | None


class DeploymentStatusResult(BaseModel):
    namespace: str
    deployment: str
    desired: int
    updated: int
    ready: int
    available: int
    conditions: list[dict[str, str]]
    stuck: bool
    reason: str


class PodHealthParams(DeploymentRef):
    limit: int = Field(default=50, ge=1, le=1000)


class PodState(BaseModel):
    name: str
    phase: str
    ready: bool
    restarts: int
    reasons: list[str]
    node: str | None
    revision: int | None = None


class PodHealthResult(BaseModel):
    namespace: str
    deployment: str
    total: int
    ready: int
    unhealthy: int
    restarts: int
    reasons: dict[str, int]
    pods: list[PodState]


class EventsParams(DeploymentRef):
    since: Duration = timedelta(hours=1)
    limit: int = Field(default=50, ge=1, le=500)


class EventsResult(BaseModel):
    namespace: str
    deployment: str
    warnings: list[dict[str, str | int]]


class LogsParams(DeploymentRef):
    pods: int = Field(default=3, ge=1, le=20, description="How many of the worst pods")
    tail_lines: int = Field(default=200, ge=1, le=5000)
    max_bytes: int = Field(default=64_000, ge=1_000, le=1_000_000)


class LogsResult(BaseModel):
    namespace: str
    deployment: str
    logs: dict[str, str]
    truncated: bool


class BaselineResult(BaseModel):
    namespace: str
    deployment: str
    current_revision: int | None
    baseline_revision: int | None
    differences: list[str]
    regressed: bool


class RollbackParams(DeploymentRef):
    to_revision: int | None = Field(default=None, ge=1, description="Default: the previous revision")
    wait: Duration = timedelta(minutes=5)


class ScaleParams(DeploymentRef):
    replicas: int | None = Field(default=None, ge=0)
    change: str | None = Field(default=None, description="Relative: +50%, -2, x2")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=100, ge=1)
    wait: Duration = timedelta(minutes=5)

    @field_validator("change")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[+-]\d+%?|x\d+(\.\d+)?", v):
            raise ValueError(f"write +50%, -2 or x2, not {v!r}")
        return v


class RestartParams(DeploymentRef):
    wait: Duration = timedelta(minutes=5)


class ChangeResult(BaseModel):
    namespace: str
    deployment: str
    applied: bool
    dry_run: bool
    summary: str
    before: dict[str, object] = Field(default_factory=dict)
    after: dict[str, object] = Field(default_factory=dict)
    way_back: str
    revision: int | None = None
    ready: bool | None = None


for _name, _kind, _params, _result, _summary in (
    (
        "kubernetes.rollout_history",
        StepKind.DIAGNOSTIC,
        RolloutHistoryParams,
        RolloutHistoryResult,
        "Revisions of a Deployment from its ReplicaSets, with images and when the last change happened.",
    ),
    (
        "kubernetes.deployment_status",
        StepKind.DIAGNOSTIC,
        DeploymentRef,
        DeploymentStatusResult,
        "Replica counts and conditions of a Deployment; whether its rollout is stuck.",
    ),
    (
        "kubernetes.pod_health",
        StepKind.DIAGNOSTIC,
        PodHealthParams,
        PodHealthResult,
        "Pods of a Deployment, worst first: phase, restarts, waiting reasons, node.",
    ),
    (
        "kubernetes.events",
        StepKind.DIAGNOSTIC,
        EventsParams,
        EventsResult,
        "Recent warning events of a Deployment, its ReplicaSets and pods.",
    ),
    (
        "kubernetes.logs",
        StepKind.DIAGNOSTIC,
        LogsParams,
        LogsResult,
        "Last lines of the worst pods' logs (and the previous container's), size-capped.",
    ),
    (
        "kubernetes.baseline",
        StepKind.DIAGNOSTIC,
        DeploymentRef,
        BaselineResult,
        "Pod health of the current revision against the previous (healthy) one.",
    ),
    (
        "kubernetes.rollback",
        StepKind.MITIGATION,
        RollbackParams,
        ChangeResult,
        "Roll a Deployment back to the previous (or a given) revision, as kubectl rollout undo does.",
    ),
    (
        "kubernetes.scale",
        StepKind.MITIGATION,
        ScaleParams,
        ChangeResult,
        "Scale a Deployment (absolute or relative, clamped); with an HPA, raise its minReplicas.",
    ),
    (
        "kubernetes.restart",
        StepKind.MITIGATION,
        RestartParams,
        ChangeResult,
        "Restart a Deployment's pods, as kubectl rollout restart does.",
    ),
):
    declare(_name, _kind, _params, _result, _summary)
