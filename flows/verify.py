"""Verify: the runbook's checks after a change; each passes on its ``ok`` or its ``expect:`` condition."""

from __future__ import annotations

from flows.response import Response
from flows.run_steps import run_steps
from warroom.events import EventKind
from warroom.expressions import evaluate_condition
from warroom.incident import Status
from warroom.redact import redact
from warroom.steps import CheckResult


def verify(response: Response) -> bool:
    if not response.runbook.verify:
        response.record(EventKind.VERIFICATION_SKIPPED, "no verify steps: a human confirms recovery")
        return False
    response.advance(Status.MONITORING, "monitoring: verifying recovery")
    labels = {id(v): v.id or f"verify[{i}]" for i, v in enumerate(response.runbook.verify)}
    ok = True
    for s in run_steps(
        response, [(v, v.id or f"verify-{i + 1}") for i, v in enumerate(response.runbook.verify)]
    ):
        v, label = s.call, labels[id(s.call)]
        if s.skipped is not None:
            response.record(EventKind.VERIFICATION_SKIPPED, f"{label}: skipped ({s.skipped})")
            continue
        if s.result is None:
            ok = False
            response.record(EventKind.VERIFICATION_FAILED, f"{label} ({v.use}) {s.error}")
            continue
        data = s.result.model_dump(mode="json")
        if v.expect is not None:
            cond = evaluate_condition(v.expect, {**response.context(), "result": data})
            passed, why = cond.value, cond.error or (v.expect if cond.value else f"not ({v.expect})")
        elif isinstance(s.result, CheckResult):
            passed, why = s.result.ok, s.result.reason
        else:  # refused by `runbooks validate`; kept for runbooks loaded around it
            passed, why = False, f"{v.use} has no ok/reason: give this verify step an expect:"
        ok = ok and passed
        response.record(
            EventKind.VERIFICATION_PASSED if passed else EventKind.VERIFICATION_FAILED,
            f"{label} ({v.use}): {why}",
            {"result": redact(data)},
        )
    return ok
