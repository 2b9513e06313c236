"""Feature-flag steps behind one protocol (LaunchDarkly, Unleash, AWS SSM/AppConfig, ConfigMap).

The params and result models are the contract runbooks are validated against; the providers arrive
with their own issue. Until then the steps are declared, and a run that reaches one says plainly that it
is not available in this build.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.steps import ChangeResult, StepKind, StepResult, declare

Provider = Literal["launchdarkly", "unleash", "ssm", "appconfig", "configmap"]


class FlagParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider
    flag: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=200)
    environment: str = Field(default="production", pattern=r"^[A-Za-z0-9_.-]+$")
    project: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")


class FlagState(StepResult):
    provider: str
    flag: str
    environment: str
    enabled: bool | None


class FlagChange(ChangeResult):
    provider: str
    flag: str
    environment: str
    enabled: bool | None


declare("flags.status", StepKind.DIAGNOSTIC, FlagParams, FlagState, "Read whether a feature flag is on.")
declare("flags.disable", StepKind.MITIGATION, FlagParams, FlagChange, "Turn a feature flag off.")
