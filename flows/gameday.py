"""Game days: a saved alert replayed against the team's runbooks without touching production. The alert is
parsed as its sender's format, matched, triaged and its params resolved; the diagnostics run for real (in
the sandbox or against real systems); every mitigation's `when:` is evaluated with its inputs shown, and a
proposed one only dry-runs. No approval is asked, no mitigation runs, and nothing is written to the ledger.
Each case is scored against its expectations."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from warroom.expressions import ExpressionError, evaluate_condition, referenced_names, render_value
from warroom.intake.alert import PayloadError, decode_json
from warroom.intake.formats import FORMAT_NAMES, FORMATS
from warroom.runbook import Catalogue, resolve_params, severity_of
from warroom.settings import Settings
from warroom.steps import StepResult, get_step

DiagnosticOutcome = Literal["ok", "trouble", "ran", "failed", "skipped"]
MEETS: dict[str, set[str]] = {  # what each declared outcome accepts of what happened
    "ok": {"ok"},
    "trouble": {"trouble"},
    "ran": {"ok", "trouble"},
    "failed": {"failed"},
    "skipped": {"skipped"},
}


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runbook: str | None = Field(default=None, description="The runbook that must match (none: nothing)")
    severity: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="Params that must resolve to these")
    proposes: list[str] | None = Field(default=None, description="Exactly these mitigations proposed")
    diagnostics: dict[str, DiagnosticOutcome] = Field(
        default_factory=dict,
        description="What each of the runbook's diagnostics must do when they run: ok (ran, found nothing "
        "wrong), trouble (ran, found the service unhealthy), ran (either), failed (could not run), skipped",
    )


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    format: str = Field(description="The sender's format: " + ", ".join(FORMAT_NAMES))
    alert: Any = Field(description="The body as the sender posts it")
    diagnose: bool = Field(default=True, description="Run the diagnostics (false: match and triage only)")
    sandbox: Literal["crashloop", "healthy", "imagepull", "oom", "pending"] | None = Field(
        default=None,
        description="With --sandbox: prod/web in the sandbox API server, its newest revision behaving so",
    )
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _diagnostics_declared_only_when_run(self) -> Case:
        if not self.diagnose and self.expect.diagnostics:
            raise ValueError("expect.diagnostics says what the diagnostics do, and diagnose: false runs none")
        return self


@dataclass
class Score:
    case: str
    runbook: str | None = None
    severity: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, str] = field(default_factory=dict)  # id -> headline or failure
    outcomes: dict[str, str] = field(default_factory=dict)  # id -> ok | trouble | failed | skipped
    diagnosed: bool = False  # the diagnostics ran (the case did not say diagnose: false)
    proposed: dict[str, str] = field(default_factory=dict)  # id -> the dry run's summary
    not_proposed: dict[str, str] = field(default_factory=dict)  # id -> why, with the inputs
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    problems: list[str] = field(default_factory=list)  # expectation failures, each a readable diff

    @property
    def passed(self) -> bool:
        return not self.problems


def load_case(path: Path) -> Case:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Case.model_validate({"name": path.stem, **(data or {})})
    except (OSError, yaml.YAMLError, ValidationError, TypeError) as exc:
        raise ValueError(f"{path}: not a game-day case: {exc}") from None


def _inputs(expr: str, context: Mapping[str, Any]) -> str:
    """The values a condition read, as ``name.attr=value``, so a reader sees why it held or not."""
    shown = []
    for name, attr in referenced_names(expr, expression=True):
        value = context.get(name)
        if attr is not None and isinstance(value, Mapping):
            shown.append(f"{name}.{attr}={json.dumps(value.get(attr), default=str)}")
        elif attr is None and name in context:
            shown.append(f"{name}={json.dumps(value, default=str)[:80]}")
    return ", ".join(dict.fromkeys(shown)) or "no inputs"


def play(case: Case, catalogue: Catalogue, settings: Settings) -> Score:
    score = Score(case.name)
    clock = time.perf_counter()
    if case.format not in FORMATS:
        score.problems.append(f"unknown format {case.format!r} (known: {', '.join(FORMAT_NAMES)})")
        return score
    raw = case.alert if isinstance(case.alert, bytes | str) else json.dumps(case.alert)
    body = raw.encode() if isinstance(raw, str) else raw
    try:
        alerts = FORMATS[case.format].replayed(decode_json(body), settings)
    except PayloadError as exc:
        score.problems.append(f"the saved {case.format} payload does not parse: {exc}")
        return score
    if not alerts:
        score.problems.append("the payload holds no alert to act on")
        return score
    alert = alerts[0]
    loaded = catalogue.match(alert.labels)
    score.phases["match"] = time.perf_counter() - clock
    if loaded is None:
        _judge(score, case.expect)
        return score
    rb = loaded.runbook
    score.runbook = rb.name
    ctx_alert = alert.context()
    try:
        score.params = resolve_params(rb, None, ctx_alert)
    except ValueError as exc:
        score.problems.append(f"params do not resolve: {exc}")
        return score
    score.severity = severity_of(rb, ctx_alert, score.params, settings.default_severity).level.value
    score.phases["triage"] = time.perf_counter() - clock
    context: dict[str, Any] = {"params": score.params, "alert": ctx_alert, "incident": {}}
    if case.diagnose:
        score.diagnosed = True
        for d in rb.diagnostics:
            context[d.id] = _diagnose(score, d, context)
        score.phases["investigate"] = time.perf_counter() - clock
        for m in rb.mitigations:
            _propose(score, m, context)
        score.phases["propose"] = time.perf_counter() - clock
    _judge(score, case.expect)
    return score


def _diagnose(score: Score, d: Any, context: dict[str, Any]) -> dict[str, Any] | None:
    spec = get_step(d.use)
    if d.when is not None and not evaluate_condition(d.when, context).value:
        score.diagnostics[d.id] = f"skipped: {d.when} is false"
        score.outcomes[d.id] = "skipped"
        return None
    try:
        params = spec.params.model_validate(render_value(d.with_, context))  # type: ignore[union-attr]
        result = spec.fn(params)  # type: ignore[union-attr,misc]  # the function itself: no Prefect run
    except Exception as exc:  # a diagnostic that cannot run is a finding, as in a real run
        score.diagnostics[d.id] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        score.outcomes[d.id] = "failed"
        return None
    score.diagnostics[d.id] = result.headline if isinstance(result, StepResult) else str(result)
    score.outcomes[d.id] = "trouble" if isinstance(result, StepResult) and result.trouble else "ok"
    return result.model_dump(mode="json")


def _propose(score: Score, m: Any, context: dict[str, Any]) -> None:
    if m.when is not None:
        cond = evaluate_condition(m.when, context)
        if not cond.value:
            score.not_proposed[m.id] = (
                f"when `{m.when}` is {cond.error or 'false'} ({_inputs(m.when, context)})"
            )
            return
    spec = get_step(m.use)
    try:
        params = spec.params.model_validate(render_value(m.with_, context))  # type: ignore[union-attr]
    except (ExpressionError, ValidationError) as exc:
        score.not_proposed[m.id] = f"bad params: {str(exc)[:200]}"
        return
    if spec is None or spec.dry_run is None:
        score.proposed[m.id] = "proposed (this step has no dry run)"
        return
    try:
        plan = spec.dry_run(params)
        score.proposed[m.id] = getattr(plan, "summary", str(plan))
    except Exception as exc:  # the dry run's own failure is part of what the team must see
        score.proposed[m.id] = f"proposed, but its dry run failed: {exc}"


def _judge_diagnostics(score: Score, expect: Expect) -> None:
    """Every diagnostic that ran did what the case says; one the case says nothing of must not fail."""
    for name in expect.diagnostics:
        if name not in score.outcomes:
            score.problems.append(f"diagnostics.{name}: the runbook has no such diagnostic")
    for name, happened in score.outcomes.items():
        declared = expect.diagnostics.get(name)
        said = score.diagnostics[name]
        if declared is None and happened == "failed":
            score.problems.append(f"diagnostics.{name}: failed, and the case does not expect it to: {said}")
        elif declared is None:
            choices = ", ".join(MEETS)
            score.problems.append(f"diagnostics.{name}: {happened}; say what it should do ({choices})")
        elif happened not in MEETS[declared]:
            score.problems.append(f"diagnostics.{name}: expected {declared}, got {score.diagnostics[name]}")


def _judge(score: Score, expect: Expect) -> None:
    if score.diagnosed:
        _judge_diagnostics(score, expect)
    if expect.runbook is not None and score.runbook != expect.runbook:
        score.problems.append(f"runbook: expected {expect.runbook}, got {score.runbook or 'no match'}")
    if expect.severity is not None and score.severity != expect.severity:
        score.problems.append(f"severity: expected {expect.severity}, got {score.severity}")
    for k, v in expect.params.items():
        if score.params.get(k) != v:
            score.problems.append(f"params.{k}: expected {v!r}, got {score.params.get(k)!r}")
    if expect.proposes is not None and sorted(expect.proposes) != sorted(score.proposed):
        missing = [p for p in expect.proposes if p not in score.proposed]
        extra = [p for p in score.proposed if p not in expect.proposes]
        lines = [f"proposes: expected {sorted(expect.proposes)}, got {sorted(score.proposed)}"]
        lines += [f"  {p} not proposed: {score.not_proposed.get(p, 'no such mitigation')}" for p in missing]
        lines += [f"  {p} proposed but not expected: {score.proposed[p]}" for p in extra]
        score.problems.append("\n".join(lines))


def junit(scores: list[Score], seconds: float) -> str:
    """JUnit XML, as CI systems read test results."""
    from xml.sax.saxutils import escape, quoteattr

    failed = sum(1 for s in scores if not s.passed)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuite name="warroom-gameday" tests="{len(scores)}" failures="{failed}" time="{seconds:.3f}">',
    ]
    for s in scores:
        took = max(s.phases.values(), default=0.0)  # phases are times from the case's start
        out.append(f'  <testcase classname="gameday" name={quoteattr(s.case)} time="{took:.3f}">')
        if not s.passed:
            text = "\n".join(s.problems)
            out.append(
                f"    <failure message={quoteattr(s.problems[0].splitlines()[0])}>{escape(text)}</failure>"
            )
        out.append("  </testcase>")
    out.append("</testsuite>")
    return "\n".join(out) + "\n"
