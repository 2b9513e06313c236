"""Mitigate: each proposal the runbook's rules allow, with its evidence, dry run and way back; the approval
gate; the approved change executed exactly once; verification after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from flows.approval import GateOutcome, GateRequest, approval_gate
from flows.response import Response, RunOutcome, headline, short_error
from flows.verify import verify
from warroom.expressions import ExpressionError, evaluate_condition, render_value
from warroom.incident import Status
from warroom.proposal import Proposal, gate_page
from warroom.redact import redact, redact_text
from warroom.runbook import Mitigation
from warroom.runs import Gate
from warroom.steps import ChangeResult, StepKind, get_step
from warroom.store import now


def mitigate_and_verify(r: Response) -> RunOutcome | None:
    """Offer each mitigation in order until one is applied and verified, one is refused, or none is left."""
    for m in r.rb.mitigations:
        proposal = propose(r, m)
        if proposal is None:
            continue
        if failed_here(r, proposal):
            continue  # re-entered after this one failed: the next proposal, never the same change again
        if not already_attempted(r, m, proposal):
            gate = approve(r, m, proposal)
            r.publish()
            if not gate.approved:
                detail = (
                    "approval timed out: nothing executed"
                    if gate.timed_out
                    else f"not approved: {gate.reason}"
                )
                r.record(
                    "run.handed_back",
                    f"{m.id} {detail}; over to the humans",
                    once=f"handback:{m.id}",
                    publish=True,
                )
                return RunOutcome(
                    incident=r.incident.id,
                    status=r.incident.status.value,
                    outcome="handed_back",
                    detail=detail,
                )
            if not mitigate(r, m, proposal, gate):
                continue  # the next proposal is offered
        if verify(r):
            r.advance(Status.RESOLVED, f"resolved: {m.id} applied and verified")
            return RunOutcome(
                incident=r.incident.id, status="resolved", outcome="resolved", detail=f"{m.id} verified"
            )
        r.advance(Status.INVESTIGATING, f"verification failed after {m.id}; investigating again")
    return None


def propose(r: Response, m: Mitigation) -> Proposal | None:
    if r.reentered and m.id in r.proposals:
        return Proposal.model_validate(r.proposals[m.id])  # as shown at the gate, not made again
    spec = get_step(m.use)
    assert spec is not None and spec.kind is StepKind.MITIGATION  # guaranteed by validation
    if m.when is not None:
        cond = evaluate_condition(m.when, r.context())
        if not cond.value:
            why = cond.error or f"{m.when} is false"
            r.record("mitigation.not_proposed", f"{m.id}: not proposed ({why})", once=f"notprop:{m.id}")
            return None
    try:
        params = spec.params.model_validate(render_value(m.with_, r.context()))
    except (ExpressionError, ValidationError) as exc:
        r.record("mitigation.not_proposed", f"{m.id}: bad params: {redact_text(str(exc))}")
        return None
    rendered = params.model_dump(mode="json")
    digest = hashlib.sha256(
        json.dumps({"use": m.use, "params": rendered}, sort_keys=True).encode()
    ).hexdigest()
    evidence = {k: v for k, v in r.results.items() if m.when and k in m.when}
    dry: dict[str, Any] | None = None
    way_back = "see the step's result"
    if spec.dry_run is not None:
        try:
            dry_result: ChangeResult = spec.dry_run(params)
            dry = dry_result.model_dump(mode="json")
            way_back = dry_result.way_back or way_back
        except Exception as exc:
            dry = {"error": short_error(exc)}
    proposal = Proposal(
        id=m.id,
        use=m.use,
        params=rendered,
        summary=m.description or spec.summary,
        evidence=evidence,
        dry_run=dry,
        way_back=way_back,
        apply_key=f"mitigation:{m.id}:{digest[:16]}",
    )
    r.record(
        "mitigation.proposed",
        f"proposed {m.id} ({m.use}): {proposal.summary}",
        {**redact(proposal.model_dump(mode="json")), "plan_digest": proposal.plan_digest},
        once=f"proposed:{m.id}",
        publish=True,
    )
    r.proposals[m.id] = proposal.model_dump(mode="json")
    r.checkpoint()
    return proposal


def approve(r: Response, m: Mitigation, p: Proposal) -> GateOutcome:
    spec = get_step(m.use)
    assert spec is not None
    excluded: dict[str, str] = {}
    if r.requested_by:
        excluded[r.requested_by] = "started this run"
    who = ", ".join(
        f"user {a.user}" if a.user else f"group {a.group}" if a.group else f"on-call {a.oncall}"
        for a in m.approval.approvers
    )
    if m.approval.four_eyes:
        who += " (four-eyes: not whoever started this run)"

    def page(gate: Gate) -> str:
        return gate_page(
            incident=r.store.get(r.incident.number),
            proposal=p,
            alert=r.alert,
            who_may_approve=who,
            required=m.approval.required,
            granted=gate.granted,
            deadline=gate.deadline,
            last_refusal=gate.last_refusal,
            at=now(),
        )

    r.name_run(waiting_for=p.id)
    try:
        return _gate(r, p, m, spec.params, excluded, page)
    finally:
        r.name_run()


def _gate(
    r: Response,
    p: Proposal,
    m: Mitigation,
    params_model: type[BaseModel],
    excluded: dict[str, str],
    page: Callable[[Gate], str],
) -> GateOutcome:
    return approval_gate(
        GateRequest(
            store=r.store,
            runs=r.runs,
            attempt=r.attempt,
            incident=r.incident,
            proposal_id=p.id,
            plan_digest=p.plan_digest,
            summary=p.summary,
            page=page,
            policy=m.approval,
            params_model=params_model,
            adjustable=m.adjustable,
            excluded=excluded,
            settings=r.settings,
            event_key=f"{r.run_key}:gate:{p.id}",
        )
    )


def failed_here(r: Response, p: Proposal) -> bool:
    """Did this attempt already execute this change and see it fail, or only partly succeed?"""
    return any(
        r.store.event_by_key(r.incident.number, f"{p.apply_key}:{outcome}:{r.run_key}") is not None
        for outcome in ("failed", "partial")
    )


def already_attempted(r: Response, m: Mitigation, p: Proposal) -> bool:
    """Has this exact change been executed on this incident before (by this or an earlier run)?

    Applied: not again. Started with no recorded outcome (the run crashed mid-change): not re-applied
    blindly either. Both go straight to verification, with no new approval asked.
    """
    keys = [e.key or "" for e in r.store.events_keyed(r.incident.number, f"{p.apply_key}:")]
    if f"{p.apply_key}:applied" in keys:
        r.record(
            "mitigation.skipped",
            f"{m.id} was already applied to this incident; not applying it again",
            once=f"skipped:{p.apply_key}",
        )
        return True
    started = {k.rsplit(":", 1)[1] for k in keys if k.startswith(f"{p.apply_key}:started:")}
    ended = {
        k.rsplit(":", 1)[1]
        for k in keys
        if k.startswith((f"{p.apply_key}:failed:", f"{p.apply_key}:partial:"))
    }
    # A recorded failure or partial change may be tried again after a new approval (never
    # automatically); a start with no recorded outcome means a run died mid-change.
    if started - ended:
        r.record(
            "mitigation.unknown",
            f"{m.id} was started before and its outcome was never recorded (a crash?): not re-applied; "
            "verifying instead",
            once=f"unknown:{p.apply_key}",
        )
        return True
    return False


def mitigate(r: Response, m: Mitigation, p: Proposal, gate: GateOutcome) -> bool:
    """Execute exactly the approved change, once. True when it was applied."""
    spec = get_step(m.use)
    assert spec is not None
    if spec.fn is None:
        r.record("mitigation.failed", f"{m.id}: {m.use} is not available in this build; nothing executed")
        return False
    try:
        params = spec.params.model_validate({**p.params, **gate.adjustments})
    except ValidationError as exc:
        r.record("mitigation.failed", f"{m.id}: adjusted params invalid: {redact_text(str(exc))}")
        return False
    r.advance(Status.MITIGATING, f"mitigating: {m.id} approved by {', '.join(gate.approvers)}")
    r.store.append(
        r.incident.number,
        "mitigation.started",
        f"executing {m.id} ({m.use}) as approved by {', '.join(gate.approvers)}",
        data={"params": redact(params.model_dump(mode="json")), "approvers": gate.approvers},
        key=f"{p.apply_key}:started:{r.run_key}",
    )
    r.publish()
    options: dict[str, Any] = {"task_run_name": m.id, "retries": 0}
    if m.timeout is not None:
        options["timeout_seconds"] = m.timeout.total_seconds()
    result = spec.fn.with_options(**options).submit(params).result(raise_on_failure=False)
    if isinstance(result, ChangeResult) and result.made:
        r.store.append(
            r.incident.number,
            "mitigation.applied",
            f"{m.id} applied: {headline(result)}",
            data={"result": redact(result.model_dump(mode="json"))},
            key=f"{p.apply_key}:applied",
        )
        r.publish()
        return True
    # Not made, or made only in part: recorded, never retried; a human decides what happens next (a
    # new approval may try it again).
    if isinstance(result, ChangeResult) and result.partial:
        kind, outcome, text = "mitigation.partial", "partial", f"{m.id} made only in part"
    else:
        kind, outcome, text = "mitigation.failed", "failed", f"{m.id} failed"
    if isinstance(result, ChangeResult):
        error = headline(result) + (f" ({result.error})" if result.error else "")
        data: dict[str, Any] = {"error": error, "result": redact(result.model_dump(mode="json"))}
    else:
        error = short_error(result) if isinstance(result, BaseException) else repr(result)
        data = {"error": error}
    r.store.append(
        r.incident.number,
        kind,
        f"{text}: {error}; not retried",
        data=data,
        key=f"{p.apply_key}:{outcome}:{r.run_key}",
    )
    r.advance(Status.INVESTIGATING, f"back to investigating: {text}")
    return False
