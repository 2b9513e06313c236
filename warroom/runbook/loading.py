"""Runbook files -> validated runbooks, every problem as ``FILE:LINE: field: message``.

Beyond the schema, each step call is checked against the step registry (known step, kind, params) and
every ``when:``/``expect:`` expression is compiled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from warroom import expressions
from warroom.fieldpath import format_loc
from warroom.filecache import shared
from warroom.runbook.model import Loc, Runbook, StepCall
from warroom.steps import CheckResult, StepKind, get_step
from warroom.yamldoc import FRIENDLY, Invalid, Problem, pydantic_problems, read_yaml


class RunbookInvalid(Invalid):
    """A runbook file with problems, each naming file, line and field."""


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
        data, lines, problems = read_yaml(text, file)
    except Invalid as exc:
        raise RunbookInvalid(exc.problems) from None
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "<runbook>", "a runbook is a YAML mapping (name, description, ...)"))
        raise RunbookInvalid(problems)
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        raise RunbookInvalid(problems + pydantic_problems(exc, file, lines)) from None
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


def catalogue_of(directory: Path) -> Catalogue:
    """The runbooks in ``directory`` as this process last read them, read again after any edit."""
    return shared("runbooks", directory, lambda d: load_catalogue([d])).get()
