"""The runbook language: what a team writes in YAML, as pydantic models. Readable without running it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warroom.duration import Duration
from warroom.severity import SeverityRule

IDENT = r"^[a-z_][a-z0-9_]*$"
SLUG = r"^[a-z0-9][a-z0-9-]*$"
ALERT_FIELDS = (
    "labels",
    "annotations",
    "status",
    "fingerprint",
    "group_key",
    "source",
    "starts_at",
    "generator_url",
)

Loc = tuple[str | int, ...]


# --- the schema --------------------------------------------------------------------------------------


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


_MATCHER = re.compile(r"^\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$")


class Matcher(BaseModel):
    """An Alertmanager label matcher. Regexes are anchored, as in Alertmanager."""

    model_config = ConfigDict(frozen=True)

    label: str
    op: MatchOp = MatchOp.EQ
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        return cls.model_validate(text)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            m = _MATCHER.match(data)
            if not m:
                raise ValueError(f'not a matcher: {data!r} (write label="value", label=~"regex", !=, !~)')
            value = m.group("value")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            return {"label": m.group("label"), "op": m.group("op"), "value": value}
        return data

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"regex {self.value!r} does not compile: {exc}") from None
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = str(labels.get(self.label, ""))
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        return f'{self.label}{self.op.value}"{self.value}"'


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DURATION = "duration"


_PY_TYPES: dict[ParamType, Any] = {
    ParamType.STRING: str,
    ParamType.INTEGER: int,
    ParamType.NUMBER: float,
    ParamType.BOOLEAN: bool,
    ParamType.DURATION: Duration,
}


class ParamSpec(BaseModel):
    """A typed runbook input: the Prefect UI form field, or a value taken from the alert."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: ParamType = ParamType.STRING
    default: Any = None
    from_: str | None = Field(default=None, alias="from", description="alert.labels.NAME and the like")
    description: str = ""
    enum: list[Any] | None = None
    pattern: str | None = Field(default=None, description="Regex a string value must match in full")

    @field_validator("from_")
    @classmethod
    def _from_is_alert_path(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = v.split(".")
        if parts[0] != "alert" or len(parts) < 2 or parts[1] not in ALERT_FIELDS:
            raise ValueError(f"must name an alert field: alert.<{'|'.join(ALERT_FIELDS)}>[.name], not {v!r}")
        if parts[1] in ("labels", "annotations") and len(parts) != 3:
            raise ValueError(f"write alert.{parts[1]}.NAME, not {v!r}")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return v

    @model_validator(mode="after")
    def _default_has_type(self) -> ParamSpec:
        if self.default is not None:
            self.default = self.coerce(self.default)
        return self

    @property
    def required(self) -> bool:
        return self.default is None and self.from_ is None

    def coerce(self, value: Any) -> Any:
        """Validate one value against this spec; ValueError says what is wrong."""
        from pydantic import TypeAdapter

        try:
            out = TypeAdapter(_PY_TYPES[self.type]).validate_python(value)
        except ValidationError as exc:
            raise ValueError(f"expected {self.type.value}, got {value!r}: {exc.errors()[0]['msg']}") from None
        if self.enum is not None and out not in self.enum:
            raise ValueError(f"{value!r} is not one of {self.enum}")
        if self.pattern is not None and isinstance(out, str) and not re.fullmatch(self.pattern, out):
            raise ValueError(f"{value!r} does not match the pattern {self.pattern!r}")
        return out


class StepCall(BaseModel):
    """One use of a registered step, with its arguments (templates allowed)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = Field(default=None, pattern=IDENT)
    use: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    expect: str | None = Field(
        default=None, description="verify only: condition over `result` that means recovered"
    )
    timeout: Duration | None = None
    description: str = ""


class Diagnostic(StepCall):
    id: str = Field(pattern=IDENT)


class Approver(BaseModel):
    """Exactly one of: a named person, a group from settings, or whoever is on call for a schedule."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    group: str | None = None
    oncall: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Approver:
        if sum(v is not None for v in (self.user, self.group, self.oncall)) != 1:
            raise ValueError("an approver is exactly one of user, group or oncall")
        return self


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approvers: list[Approver] = Field(min_length=1)
    four_eyes: bool = Field(default=True, description="Whoever started or proposed it may not approve")
    required: int = Field(default=1, ge=1, description="How many distinct approvers (N of M)")
    timeout: Duration = timedelta(minutes=15)
    escalate_after: Duration | None = None
    signed: bool = Field(
        default=False,
        description="Count only answers signed with the approver's key (`warroom approve`); refuse UI codes",
    )

    @model_validator(mode="after")
    def _escalation_before_timeout(self) -> ApprovalPolicy:
        if self.escalate_after is not None and self.escalate_after >= self.timeout:
            raise ValueError("escalate_after must be shorter than timeout")
        return self


class Mitigation(StepCall):
    id: str = Field(pattern=IDENT)
    approval: ApprovalPolicy
    adjustable: list[str] = Field(
        default_factory=list, description="Step params an approver may change in the approval form"
    )


class Communicate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = None
    status_page: bool | None = Field(default=None, description="Default: the severity policy decides")
    update_every: Duration | None = Field(default=None, description="Default: the severity policy decides")
    stakeholders: list[str] = Field(default_factory=list)
    components: list[str] = Field(
        default_factory=list,
        description="The status-page components an incident of this runbook affects (default: the service's)",
    )


class ActionItemTemplate(BaseModel):
    """An action item opened when a run resolves the incident; due ``due_in`` after the resolution."""

    model_config = ConfigDict(extra="forbid")

    title: str
    owner: str | None = Field(default=None, description="Default: the post-mortem owner, else the commander")
    due_in: Duration | None = None


class PostmortemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: bool | None = Field(default=None, description="Default: the severity policy decides")
    owner: str | None = Field(default=None, description="Owner of the action items that name none")
    action_items: list[ActionItemTemplate] = Field(default_factory=list)


class Runbook(BaseModel):
    """A runbook as the team writes it. What it does is readable without running it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=SLUG, max_length=80)
    description: str
    title: str | None = Field(default=None, description="Incident title template")
    service: str | None = None
    team: str | None = Field(
        default=None, description="Whose on-call schedule is paged and answers `oncall:` approvers"
    )
    priority: int = Field(default=100, description="Lower wins when several runbooks match an alert")
    group_by: Literal["fingerprint", "group"] = "fingerprint"
    match: list[Matcher] = Field(default_factory=list)
    severity: list[SeverityRule] = Field(default_factory=list)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    mitigations: list[Mitigation] = Field(default_factory=list)
    verify: list[StepCall] = Field(default_factory=list)
    communicate: Communicate = Field(default_factory=Communicate)
    postmortem: PostmortemSpec = Field(default_factory=PostmortemSpec)

    @field_validator("match", mode="before")
    @classmethod
    def _matchers(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            return [{"label": k, "op": "=", "value": str(val)} for k, val in v.items()]
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in v:
            if not re.match(IDENT, name):
                raise ValueError(f"param name {name!r} must be lower_snake_case")
        return v

    def matches(self, labels: Mapping[str, str]) -> bool:
        return bool(self.match) and all(m.matches(labels) for m in self.match)
