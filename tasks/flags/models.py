"""Params and results of the feature-flag steps: the contract runbooks are validated against."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.steps import ChangeResult, StepResult

Provider = Literal["launchdarkly", "unleash", "ssm", "appconfig", "configmap"]


class FlagParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider
    flag: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=200)
    environment: str = Field(default="production", pattern=r"^[A-Za-z0-9_.-]+$")
    project: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$",
        description="Default: the provider's default project (AppConfig: APPLICATION or APPLICATION/PROFILE)",
    )


class FlagState(StepResult):
    provider: str
    flag: str
    environment: str
    enabled: bool
    strategies: list[str] = Field(default_factory=list, description="Rollout strategies or variations")
    last_change: datetime | None = None
    changed_by: str | None = None


class FlagChange(ChangeResult):
    provider: str
    flag: str
    environment: str
    enabled: bool | None = Field(description="The flag's state after the step (None when unknown)")
    was_enabled: bool | None = None
