"""Runbook files -> validated runbooks, every problem as ``FILE:LINE: field: message``.

Beyond the schema, each step call is checked against the step registry (known step, kind, params),
every ``when:``/``expect:`` expression is compiled, and every field path a template or condition reads is
followed through the model that holds it (``warroom.runbook.fields``). Every problem of a file comes in one
pass: when the schema refuses some parts, the parts it accepts are still checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from warroom import expressions
from warroom.fieldpath import format_loc
from warroom.filecache import shared
from warroom.incident import Incident
from warroom.intake.alert import Alert
from warroom.runbook.fields import check_reads, nearest
from warroom.runbook.model import Diagnostic, Loc, Mitigation, ParamSpec, Runbook, StepCall
from warroom.severity import SeverityRule
from warroom.steps import CheckResult, StepKind, get_step
from warroom.yamldoc import FRIENDLY, Invalid, Problem, pydantic_problems, read_yaml


class RunbookInvalid(Invalid):
    """A runbook file with problems, each naming file, line and field."""


# --- loading and checking ----------------------------------------------------------------------------------


WARNING = "warning: "  # a message so marked is shown, and does not make the runbook invalid
Found = tuple[Loc, str]


def _expression_problems(
    text: str,
    loc: Loc,
    names: list[str],
    params: list[str],
    roots: dict[str, Any],
    *,
    expression: bool,
) -> Iterator[Found]:
    for problem in expressions.check(text, names, params, expression=expression):
        yield loc, problem
    fields = check_reads(text, roots, expression=expression)
    for problem in fields.errors:
        yield loc, problem
    for warning in fields.warnings:
        yield loc, WARNING + warning


def _result_roots(runbook: Runbook, section: str) -> dict[str, Any]:
    """The models a step call's templates read: the diagnostics' results (after diagnostics run), the
    incident and the alert."""
    roots: dict[str, Any] = {"incident": Incident, "alert": Alert}
    if section != "diagnostics":
        for d in runbook.diagnostics:
            spec = get_step(d.use) if d is not None else None
            if d is not None and spec is not None:
                roots[d.id] = spec.result
    return roots


def _check_step_call(call: StepCall, section: str, index: int, runbook: Runbook) -> Iterator[Found]:
    """Registry, kind, params and template checks for one step call."""
    loc: Loc = (section, index)
    spec = get_step(call.use)
    if spec is None:
        from warroom.steps import all_steps

        hint = nearest(call.use, all_steps())
        known = "" if hint else f" (known: {', '.join(all_steps())})"
        yield (*loc, "use"), f"unknown step {call.use!r}{hint}{known}"
        return
    if section in ("diagnostics", "verify") and spec.kind is not StepKind.DIAGNOSTIC:
        yield (*loc, "use"), f"{call.use} changes production: it belongs under mitigations, with an approval"
    if section == "mitigations" and spec.kind is not StepKind.MITIGATION:
        yield (*loc, "use"), f"{call.use} is read-only: put it under diagnostics or verify"

    diag_ids = [d.id for d in runbook.diagnostics if d is not None]
    names = ["params", "alert", "incident"] + (diag_ids if section != "diagnostics" else [])
    param_names = list(runbook.params)
    roots = _result_roots(runbook, section)
    templated: set[str] = set()
    for key, value in call.with_.items():
        if expressions.is_template(value):
            templated.add(key)
            for text in _strings(value):
                if expressions.is_template(text):
                    yield from _expression_problems(
                        text, (*loc, "with", key), names, param_names, roots, expression=False
                    )
    if call.when is not None:
        yield from _expression_problems(call.when, (*loc, "when"), names, param_names, roots, expression=True)
    if call.expect is not None and section != "verify":
        yield (*loc, "expect"), "expect is for verify steps; use when to decide whether a step runs"
    elif call.expect is not None:
        yield from _expression_problems(
            call.expect,
            (*loc, "expect"),
            [*names, "result"],
            param_names,
            {**roots, "result": spec.result},
            expression=True,
        )
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
            message = FRIENDLY.get(err["type"], err["msg"]).removeprefix("Value error, ")
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


def _semantic_problems(runbook: Runbook) -> Iterator[Found]:
    seen: dict[str, Loc] = {}
    for section in ("diagnostics", "mitigations", "verify"):
        for i, call in enumerate(getattr(runbook, section)):
            if call is None:
                continue  # refused by the schema, and said so
            if call.id is not None:
                if call.id in seen:
                    yield (section, i, "id"), f"id {call.id!r} is already used at {format_loc(seen[call.id])}"
                seen.setdefault(call.id, (section, i))
            yield from _check_step_call(call, section, i, runbook)
    alert_only = {"alert": Alert}
    for i, rule in enumerate(runbook.severity):
        if rule is None:
            continue
        if rule.when is not None:
            yield from _expression_problems(
                rule.when,
                ("severity", i, "when"),
                ["alert", "params"],
                list(runbook.params),
                alert_only,
                expression=True,
            )
        elif i != len(runbook.severity) - 1:
            yield ("severity", i), "a rule without `when` always matches, so the rules after it never run"
    if runbook.title is not None:
        yield from _expression_problems(
            runbook.title, ("title",), ["params", "alert"], list(runbook.params), alert_only, expression=False
        )


_PARTS: dict[str, type[BaseModel]] = {
    "diagnostics": Diagnostic,
    "mitigations": Mitigation,
    "verify": StepCall,
    "severity": SeverityRule,
}


def _accepted(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None  # in place, so a problem names the item it is about; the schema said what is wrong


def _accepted_parts(data: dict[str, Any]) -> Runbook:
    """The parts of a runbook the schema accepts, each on its own, so their own checks still run while
    the schema's problems elsewhere are reported."""
    parts: dict[str, Any] = {}
    for name, model in _PARTS.items():
        items = data.get(name)
        parts[name] = [_accepted(model, item) for item in (items if isinstance(items, list) else [])]
    params = data.get("params")
    parts["params"] = {
        key: _accepted(ParamSpec, spec) for key, spec in (params if isinstance(params, dict) else {}).items()
    }
    title = data.get("title")
    parts["title"] = title if isinstance(title, str) else None
    return Runbook.model_construct(**parts)


def check_runbook(text: str, file: str = "<runbook>") -> tuple[Runbook, list[Problem]]:
    """Parse and fully validate one runbook: the runbook and its warnings, or :class:`RunbookInvalid`
    listing every problem of the file (warnings last of all)."""
    try:
        data, lines, problems = read_yaml(text, file)
    except Invalid as exc:
        raise RunbookInvalid(exc.problems) from None
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "<runbook>", "a runbook is a YAML mapping (name, description, ...)"))
        raise RunbookInvalid(problems)
    runbook: Runbook | None = None
    try:
        runbook = Runbook.model_validate(data)
        checked = runbook
    except ValidationError as exc:
        problems += pydantic_problems(exc, file, lines)
        checked = _accepted_parts(data)
    warnings: list[Problem] = []
    seen = {(p.line, p.field, p.message) for p in problems}
    for loc, msg in _semantic_problems(checked):
        found = Problem(file, lines.line(loc), format_loc(loc), msg)
        if (found.line, found.field, found.message) in seen:
            continue
        seen.add((found.line, found.field, found.message))
        (warnings if msg.startswith(WARNING) else problems).append(found)
    if problems or runbook is None:
        raise RunbookInvalid(sorted(problems, key=lambda p: p.line) + warnings)
    return runbook, warnings


def parse_runbook(text: str, file: str = "<runbook>") -> Runbook:
    """Parse and fully validate one runbook; raise :class:`RunbookInvalid` listing every problem."""
    return check_runbook(text, file)[0]


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    path: Path
    warnings: tuple[Problem, ...] = ()


def load_runbook(path: Path) -> LoadedRunbook:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookInvalid([Problem(str(path), 1, "<file>", f"cannot read: {exc}")]) from None
    runbook, warnings = check_runbook(text, str(path))
    return LoadedRunbook(runbook, path, tuple(warnings))


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

    @property
    def warnings(self) -> list[Problem]:
        """What the valid runbooks may not mean as written (a condition over a field that may be unset)."""
        return [w for r in self.runbooks.values() for w in r.warnings]

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


def catalogue_of(directory: Path) -> Catalogue:
    """The runbooks in ``directory`` as this process last read them, read again after any edit."""
    return shared("runbooks", directory, lambda d: load_catalogue([d])).get()
