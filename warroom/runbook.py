"""The runbook language: the pydantic schema, the YAML loader with ``FILE:LINE: field: message`` errors,
and the checks that tie each step call to the step registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from warroom import expressions
from warroom.duration import Duration
from warroom.severity import SeverityRule
from warroom.steps import CheckResult, StepKind, get_step

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


class ActionItemTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str
    owner: str | None = None
    due_in: Duration | None = None


class PostmortemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: bool | None = Field(default=None, description="Default: the severity policy decides")
    owner: str | None = None
    tracker: str = "file"
    action_items: list[ActionItemTemplate] = Field(default_factory=list)


class Runbook(BaseModel):
    """A runbook as the team writes it. What it does is readable without running it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=SLUG, max_length=80)
    description: str
    title: str | None = Field(default=None, description="Incident title template")
    service: str | None = None
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


# --- errors with file and line -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class RunbookInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def format_loc(loc: Iterable[str | int], whole: str = "<runbook>") -> str:
    """A pydantic-style location as a field path: ``diagnostics[0].with.url``; ``whole`` for the root."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or whole


class _Lines:
    """Where each path of a YAML document starts, so errors can name a line."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[Loc, int] = {(): 1}
        self.duplicates: list[tuple[Loc, int]] = []
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    self.duplicates.append(((*loc, key), key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[(*loc, key)] = key_node.start_mark.line + 1
                self._walk(value_node, (*loc, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def line(self, loc: Loc) -> int:
        loc = tuple(loc)
        while loc not in self.lines:
            loc = loc[:-1]
        return self.lines[loc]


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required field is missing",
}


def _pydantic_problems(
    exc: ValidationError, file: str, lines: _Lines, prefix: Loc = (), skip: set[str] | None = None
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if skip and loc and loc[0] in skip:
            continue
        message = _FRIENDLY.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden" and loc:
            message = f"unknown key {loc[-1]!r}"
        full = (*prefix, *loc)
        out.append(Problem(file, lines.line(full), format_loc(full), message))
    return out


# --- loading and checking ----------------------------------------------------------------------------------


def _check_step_call(call: StepCall, section: str, index: int, runbook: Runbook) -> Iterator[tuple[Loc, str]]:
    """Registry, kind, params and template checks for one step call."""
    loc: Loc = (section, index)
    spec = get_step(call.use)
    if spec is None:
        from warroom.steps import all_steps

        known = ", ".join(all_steps())
        yield (*loc, "use"), f"unknown step {call.use!r} (known: {known})"
        return
    if section in ("diagnostics", "verify") and spec.kind is not StepKind.DIAGNOSTIC:
        yield (*loc, "use"), f"{call.use} changes production: it belongs under mitigations, with an approval"
    if section == "mitigations" and spec.kind is not StepKind.MITIGATION:
        yield (*loc, "use"), f"{call.use} is read-only: put it under diagnostics or verify"

    diag_ids = [d.id for d in runbook.diagnostics]
    names = ["params", "alert", "incident"] + (diag_ids if section != "diagnostics" else [])
    param_names = list(runbook.params)
    templated: set[str] = set()
    for key, value in call.with_.items():
        if expressions.is_template(value):
            templated.add(key)
            for text in _strings(value):
                if expressions.is_template(text):
                    for problem in expressions.check(text, names, param_names):
                        yield (*loc, "with", key), problem
    if call.when is not None:
        for problem in expressions.check(call.when, names, param_names, expression=True):
            yield (*loc, "when"), problem
    if call.expect is not None and section != "verify":
        yield (*loc, "expect"), "expect is for verify steps; use when to decide whether a step runs"
    elif call.expect is not None:
        for problem in expressions.check(call.expect, [*names, "result"], param_names, expression=True):
            yield (*loc, "expect"), problem
    elif section == "verify" and not issubclass(spec.result, CheckResult):
        yield (*loc, "expect"), f"{call.use} has no ok verdict: say what recovered means with expect"
    for i, name in enumerate(getattr(call, "adjustable", [])):
        if name not in spec.params.model_fields:
            yield (*loc, "adjustable", i), f"{call.use} has no param {name!r} to adjust"
    try:
        spec.params.model_validate(call.with_)
    except ValidationError as exc:
        for err in exc.errors():
            field = err["loc"][0] if err["loc"] else None
            if field in templated:
                continue  # checked again when rendered, with real values
            if not err["loc"] and templated:
                continue  # a cross-field rule over values not known until run time
            message = _FRIENDLY.get(err["type"], err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(spec.params.model_fields)
                message = f"{call.use} has no param {field!r} (its params: {allowed})"
            yield (*loc, "with", *err["loc"]), message


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _semantic_problems(runbook: Runbook) -> Iterator[tuple[Loc, str]]:
    seen: dict[str, Loc] = {}
    for section in ("diagnostics", "mitigations", "verify"):
        for i, call in enumerate(getattr(runbook, section)):
            if call.id is not None:
                if call.id in seen:
                    yield (section, i, "id"), f"id {call.id!r} is already used at {format_loc(seen[call.id])}"
                seen.setdefault(call.id, (section, i))
            yield from _check_step_call(call, section, i, runbook)
    for i, rule in enumerate(runbook.severity):
        if rule.when is not None:
            for problem in expressions.check(
                rule.when, ["alert", "params"], list(runbook.params), expression=True
            ):
                yield ("severity", i, "when"), problem
        elif i != len(runbook.severity) - 1:
            yield ("severity", i), "a rule without `when` always matches, so the rules after it never run"
    if runbook.title is not None:
        for problem in expressions.check(runbook.title, ["params", "alert"], list(runbook.params)):
            yield ("title",), problem


def parse_runbook(text: str, file: str = "<runbook>") -> Runbook:
    """Parse and fully validate one runbook; raise :class:`RunbookInvalid` listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise RunbookInvalid([Problem(file, line, "yaml", f"syntax error: {problem}")]) from None
    lines = _Lines(root)
    problems = [Problem(file, ln, format_loc(loc), "duplicate key") for loc, ln in lines.duplicates]
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "<runbook>", "a runbook is a YAML mapping (name, description, ...)"))
        raise RunbookInvalid(problems)
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        raise RunbookInvalid(problems + _pydantic_problems(exc, file, lines)) from None
    problems += [
        Problem(file, lines.line(loc), format_loc(loc), msg) for loc, msg in _semantic_problems(runbook)
    ]
    if problems:
        raise RunbookInvalid(sorted(problems, key=lambda p: p.line))
    return runbook


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    path: Path


def load_runbook(path: Path) -> LoadedRunbook:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookInvalid([Problem(str(path), 1, "<file>", f"cannot read: {exc}")]) from None
    return LoadedRunbook(parse_runbook(text, str(path)), path)


def runbook_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to the ``*.yaml``/``*.yml`` files in them, in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file())
        else:
            out.append(p)
    return out


@dataclass
class Catalogue:
    """The runbooks of a directory: the valid ones by name, and the problems of the rest."""

    runbooks: dict[str, LoadedRunbook]
    problems: list[Problem]

    def ordered(self) -> list[LoadedRunbook]:
        """By priority, then name: the order in which they are matched against an alert."""
        return sorted(self.runbooks.values(), key=lambda r: (r.runbook.priority, r.runbook.name))

    def match(self, labels: Mapping[str, str]) -> LoadedRunbook | None:
        return next((r for r in self.ordered() if r.runbook.matches(labels)), None)


def load_catalogue(paths: Iterable[Path]) -> Catalogue:
    found: dict[str, LoadedRunbook] = {}
    problems: list[Problem] = []
    for path in runbook_files(paths):
        if not path.exists():
            problems.append(Problem(str(path), 1, "<file>", "no such file or directory"))
            continue
        try:
            loaded = load_runbook(path)
        except RunbookInvalid as exc:
            problems += exc.problems
            continue
        name = loaded.runbook.name
        if name in found:
            problems.append(
                Problem(str(path), 1, "name", f"runbook {name!r} is also defined in {found[name].path}")
            )
            continue
        found[name] = loaded
    return Catalogue(found, problems)


def dedup_key_for(runbook: Runbook, alert: Mapping[str, Any] | None, fallback: str) -> str:
    """The alert's fingerprint (or group key, when the runbook groups), else a per-run key."""
    if alert:
        value = alert.get("group_key") if runbook.group_by == "group" else alert.get("fingerprint")
        if value:
            return f"{runbook.name}:{value}"
    return fallback


# --- params at run time -----------------------------------------------------------------------------------


def lookup_alert_path(alert: Mapping[str, Any], path: str) -> Any:
    """Resolve ``alert.labels.NAME`` (a ``from:``) against alert data; None when absent."""
    value: Any = {"alert": alert}
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def resolve_params(
    runbook: Runbook, given: Mapping[str, Any] | None = None, alert: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Typed params from what was given, then the alert (``from:``), then defaults.

    Raises :class:`ValueError` naming every param that is unknown, missing or of the wrong type.
    """
    given = dict(given or {})
    errors = [
        f"params.{k}: unknown param (known: {', '.join(runbook.params) or 'none'})"
        for k in given
        if k not in runbook.params
    ]
    out: dict[str, Any] = {}
    for name, spec in runbook.params.items():
        raw = given.get(name)
        if raw is None and spec.from_ and alert is not None:
            raw = lookup_alert_path(alert, spec.from_)
        if raw is None:
            raw = spec.default
        if raw is None:
            where = f" (alert has no {spec.from_})" if spec.from_ else ""
            errors.append(f"params.{name}: required{where}")
            continue
        try:
            out[name] = spec.coerce(raw)
        except ValueError as exc:
            errors.append(f"params.{name}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out
