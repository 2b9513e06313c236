"""Params and results of the AWS steps: the contract runbooks are validated against."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warroom import capacity
from warroom.duration import Duration
from warroom.steps import ChangeResult, CheckResult, StepResult

REGION = r"^[a-z]{2}(-[a-z]+)+-\d+$"
NAME = r"^[A-Za-z0-9_.:/-]{1,255}$"


class AwsRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str | None = Field(
        default=None, pattern=REGION, description="Default: the setting aws_region, then AWS_REGION"
    )


# --- CloudWatch ----------------------------------------------------------------------------------------


class AlarmParams(AwsRef):
    alarm: str = Field(min_length=1, max_length=255)
    history: int = Field(default=10, ge=0, le=100, description="State changes read, newest first")


class AlarmTransition(BaseModel):
    at: datetime
    summary: str


class AlarmState(StepResult):
    alarm: str
    state: str = Field(description="OK, ALARM or INSUFFICIENT_DATA")
    reason: str
    updated_at: datetime | None
    metric: str | None = None
    namespace: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    threshold: float | None = None
    history: list[AlarmTransition] = Field(default_factory=list)
    history_error: str | None = Field(default=None, description="Why the history could not be read")

    @property
    def trouble(self) -> bool:
        return self.state == "ALARM"


class AlarmCheckParams(AwsRef):
    alarm: str = Field(min_length=1, max_length=255)
    within: Duration = Field(default=timedelta(minutes=10), description="Wait this long for OK")
    hold: Duration = Field(default=timedelta(0), description="And it must stay OK this long")
    every: Duration = Field(default=timedelta(seconds=5), description="Read the alarm this often")


class AlarmCheck(CheckResult):
    alarm: str
    state: str
    waited_seconds: float


Statistic = Literal["Average", "Sum", "Maximum", "Minimum", "SampleCount"]


class MetricBaselineParams(AwsRef):
    namespace: str = Field(min_length=1, max_length=255)
    metric: str = Field(min_length=1, max_length=255)
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: Statistic = "Average"
    window: Duration = Field(default=timedelta(minutes=15), description="The recent window measured")
    baseline_offset: Duration | None = Field(
        default=None,
        description="How far back the baseline window starts; default: the window just before (set 1d or 7d "
        "for the same time yesterday or last week)",
    )
    period: Duration = Field(default=timedelta(minutes=1))
    worse: Literal["higher", "lower"] = Field(default="higher", description="Which direction is bad")
    factor: float = Field(default=1.5, gt=1, description="Regressed when worse by this factor or more")
    min_change: float = Field(default=0, ge=0, description="Changes smaller than this never count")

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, v: timedelta) -> timedelta:
        if v.total_seconds() < 60 or v.total_seconds() % 60:
            raise ValueError("CloudWatch periods here are whole minutes (60 s or a multiple)")
        return v


class MetricBaseline(StepResult):
    namespace: str
    metric: str
    statistic: str
    current: float | None = Field(description="The statistic over the recent window (None: no data)")
    baseline: float | None
    ratio: float | None = Field(description="current / baseline")
    regressed: bool
    current_points: int
    baseline_points: int
    window_start: datetime
    baseline_start: datetime

    @property
    def trouble(self) -> bool:
        return self.regressed


# --- ECS -----------------------------------------------------------------------------------------------


class EcsServiceRef(AwsRef):
    cluster: str = Field(pattern=NAME)
    service: str = Field(pattern=NAME)


class EcsServiceParams(EcsServiceRef):
    events: int = Field(default=10, ge=0, le=100, description="Service events read, newest first")


class EcsDeployment(BaseModel):
    id: str
    status: str = Field(description="PRIMARY (the one rolling out), ACTIVE (being replaced)")
    task_definition: str
    desired: int
    running: int
    pending: int
    failed: int = 0
    rollout_state: str | None = None
    created_at: datetime | None = None


class EcsServiceResult(StepResult):
    cluster: str
    service: str
    status: str
    desired: int
    running: int
    pending: int
    task_definition: str = Field(description="The service's task definition (family:revision)")
    previous_task_definition: str | None = Field(
        description="The one before it: still in a rollout, else the family's previous revision"
    )
    images: list[str]
    previous_images: list[str]
    differences: list[str] = Field(description="What changed from the previous task definition")
    deployments: list[EcsDeployment]
    events: list[str] = Field(description="Newest first, with their times")
    last_deployment_at: datetime | None
    last_change_minutes: float | None
    steady: bool = Field(description="One deployment, completed, with every desired task running")
    rollout_failed: bool

    @property
    def trouble(self) -> bool:
        return self.rollout_failed or not self.steady


class EcsRollbackParams(EcsServiceRef):
    task_definition: str | None = Field(
        default=None,
        pattern=NAME,
        description="family:revision or ARN to go back to; default: the previous one (see aws.ecs_service)",
    )
    wait: Duration = Field(default=timedelta(minutes=10), description="Wait this long for a steady state")


class Counted(BaseModel):
    """An absolute count or a relative change (+50%, -2, x2), never below min nor above max."""

    change: str | None = Field(default=None, description="Relative: +50%, -2, x2")
    minimum: int = Field(default=1, ge=0, description="Never below")
    maximum: int = Field(default=100, ge=1, description="Never above")

    @field_validator("change")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        return capacity.check_relative(v)


class EcsScaleParams(EcsServiceRef, Counted):
    desired_count: int | None = Field(default=None, ge=0, description="Absolute")
    wait: Duration = Field(default=timedelta(minutes=5), description="Wait this long for the tasks")

    @model_validator(mode="after")
    def _one_way(self) -> EcsScaleParams:
        capacity.check_one_way(self.desired_count, self.change, self.minimum, self.maximum)
        return self


# --- EC2 Auto Scaling ----------------------------------------------------------------------------------


class AsgRef(AwsRef):
    group: str = Field(pattern=NAME)


class AsgActivityParams(AsgRef):
    activities: int = Field(default=10, ge=0, le=100, description="Scaling activities read, newest first")


class ScalingActivity(BaseModel):
    status: str
    description: str
    cause: str
    started_at: datetime | None
    ended_at: datetime | None = None


class AsgActivityResult(StepResult):
    group: str
    min_size: int
    max_size: int
    desired: int
    in_service: int
    pending: int
    unhealthy: int
    at_max: bool = Field(description="Desired capacity is the group's MaxSize: it cannot scale out further")
    suspended: list[str] = Field(description="Suspended scaling processes")
    activities: list[ScalingActivity]

    @property
    def trouble(self) -> bool:
        return self.unhealthy > 0 or self.in_service < self.desired or bool(self.suspended)


class AsgScaleParams(AsgRef, Counted):
    desired_capacity: int | None = Field(default=None, ge=0, description="Absolute")
    wait: Duration = Field(default=timedelta(minutes=5), description="Wait this long for InService instances")

    @model_validator(mode="after")
    def _one_way(self) -> AsgScaleParams:
        capacity.check_one_way(self.desired_capacity, self.change, self.minimum, self.maximum)
        return self


# --- changes -------------------------------------------------------------------------------------------


class AwsChange(ChangeResult):
    resource: str = Field(description="What was changed, as AWS names it (cluster/service, group)")
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    ready: bool | None = Field(default=None, description="It reached a steady state within the wait")
    state: str | None = Field(default=None, description="The last state seen while waiting")
