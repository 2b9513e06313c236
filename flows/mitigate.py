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
from flows.run_steps import step_task
from flows.verify import verify
from warroom.events import EventKind
from warroom.expressions import ExpressionError, evaluate_condition, render_value
from warroom.incident import Status
from warroom.ledger import Gate, now
from warroom.proposal import GatePage, Proposal, gate_page
from warroom.redact import redact, redact_text
from warroom.reports.past import last_time
from warroom.runbook import Mitigation
from warroom.steps import ChangeResult, StepKind, get_step


def mitigate_and_verify(response: Response) -> RunOutcome | None:
    """Offer each mitigation in order until one is applied and verified, one is refused, or none is left."""
    for mitigation in response.runbook.mitigations:
        proposal = propose(response, mitigation)
        if proposal is None:
            continue
        if failed_here(response, proposal):
            continue  # re-entered after this one failed: the next proposal, never the same change again
        if not already_attempted(response, mitigation, proposal):
            gate = approve(response, mitigation, proposal)
            response.publish()
            if not gate.approved:
                detail = (
                    "approval timed out: nothing executed"
                    if gate.timed_out
                    else f"not approved: {gate.reason}"
                )
                response.record(
                    EventKind.RUN_HANDED_BACK,
                    f"{mitigation.id} {detail}; over to the humans",
                    once=f"handback:{mitigation.id}",
                    publish=True,
                )
                return RunOutcome(
                    incident=response.incident.id,
                    status=response.incident.status.value,
                    outcome="handed_back",
                    detail=detail,
                )
            if not mitigate(response, mitigation, proposal, gate):
                continue  # the next proposal is offered
        if verify(response):
            response.advance(Status.RESOLVED, f"resolved: {mitigation.id} applied and verified")
            return RunOutcome(
                incident=response.incident.id,
                status="resolved",
                outcome="resolved",
                detail=f"{mitigation.id} verified",
            )
        response.advance(
            Status.INVESTIGATING, f"verification failed after {mitigation.id}; investigating again"
        )
    return None


def propose(response: Response, mitigation: Mitigation) -> Proposal | None:
    if response.reentered and mitigation.id in response.proposals:
        # As shown at the gate before the process died: not made (nor dry-run) again.
        return Proposal.model_validate(response.proposals[mitigation.id])
    spec = get_step(mitigation.use)
    assert spec is not None and spec.kind is StepKind.MITIGATION  # guaranteed by validation
    if mitigation.when is not None:
        cond = evaluate_condition(mitigation.when, response.context())
        if not cond.value:
            why = cond.error or f"{mitigation.when} is false"
            response.record(
                EventKind.MITIGATION_NOT_PROPOSED,
                f"{mitigation.id}: not proposed ({why})",
                once=f"notprop:{mitigation.id}",
            )
            return None
    try:
        params = spec.params.model_validate(render_value(mitigation.with_, response.context()))
    except (ExpressionError, ValidationError) as exc:
        response.record(
            EventKind.MITIGATION_NOT_PROPOSED, f"{mitigation.id}: bad params: {redact_text(str(exc))}"
        )
        return None
    rendered = params.model_dump(mode="json")
    digest = hashlib.sha256(
        json.dumps({"use": mitigation.use, "params": rendered}, sort_keys=True).encode()
    ).hexdigest()
    evidence = {k: v for k, v in response.results.items() if mitigation.when and k in mitigation.when}
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
        id=mitigation.id,
        use=mitigation.use,
        params=rendered,
        summary=mitigation.description or spec.summary,
        evidence=evidence,
        dry_run=dry,
        way_back=way_back,
        apply_key=f"mitigation:{mitigation.id}:{digest[:16]}",
        last_time=last_time(response.store, response.incident, mitigation.id),
    )
    response.record(
        EventKind.MITIGATION_PROPOSED,
        f"proposed {mitigation.id} ({mitigation.use}): {proposal.summary}",
        {**redact(proposal.model_dump(mode="json")), "plan_digest": proposal.plan_digest},
        once=f"proposed:{mitigation.id}",
        publish=True,
    )
    response.proposals[mitigation.id] = proposal.model_dump(mode="json")
    response.checkpoint()
    return proposal


def approve(response: Response, mitigation: Mitigation, proposal: Proposal) -> GateOutcome:
    spec = get_step(mitigation.use)
    assert spec is not None
    excluded: dict[str, str] = {}
    if response.starter.name:
        # A claimed starter is excluded too: the claim may be true.
        excluded[response.starter.name] = "started this run"
    who = ", ".join(
        f"user {a.user}" if a.user else f"group {a.group}" if a.group else f"on-call {a.oncall}"
        for a in mitigation.approval.approvers
    )
    required = mitigation.approval.required
    level = response.settings.policy(response.incident.severity)
    signed = mitigation.approval.signed or level.signed_approvals
    if signed:
        who += "; signed answers only (`warroom approve` with the approver's key)"
    if mitigation.approval.four_eyes:
        who += " (four-eyes: not whoever started this run)"
        if not response.starter.proven:
            # Nobody can say who started it, so no single approver can be shown not to be the starter.
            required = max(required, 2)
            who += "; who started it is not proven, so two different people must approve"

    def page(gate: Gate) -> GatePage:
        return gate_page(
            incident=response.store.get(response.incident.number),
            proposal=proposal,
            alert=response.alert,
            who_may_approve=who,
            required=required,
            granted=gate.granted,
            deadline=gate.deadline,
            last_refusal=gate.last_refusal,
            at=now(),
        )

    response.name_run(waiting_for=proposal.id)
    try:
        return _gate(response, proposal, mitigation, spec.params, excluded, required, signed, page)
    finally:
        response.name_run()


def _gate(
    response: Response,
    proposal: Proposal,
    mitigation: Mitigation,
    params_model: type[BaseModel],
    excluded: dict[str, str],
    required: int,
    signed: bool,
    page: Callable[[Gate], GatePage],
) -> GateOutcome:
    return approval_gate(
        GateRequest(
            store=response.store,
            runs=response.runs,
            attempt=response.attempt,
            incident=response.incident,
            proposal_id=proposal.id,
            plan_digest=proposal.plan_digest,
            summary=proposal.summary,
            page=page,
            policy=mitigation.approval,
            params_model=params_model,
            adjustable=mitigation.adjustable,
            excluded=excluded,
            required=required,
            signed=signed,
            team=response.runbook.team,
            settings=response.settings,
            event_key=f"{response.run_key}:gate:{proposal.id}",
        )
    )


def failed_here(response: Response, proposal: Proposal) -> bool:
    """Did this attempt already execute this change and see it fail, or only partly succeed?"""
    return any(
        response.store.event_by_key(
            response.incident.number, f"{proposal.apply_key}:{outcome}:{response.run_key}"
        )
        is not None
        for outcome in ("failed", "partial")
    )


def already_attempted(response: Response, mitigation: Mitigation, proposal: Proposal) -> bool:
    """Has this exact change been executed on this incident before (by this or an earlier run)?

    Applied: not again. Started with no recorded outcome (the run crashed mid-change): not re-applied
    blindly either. Both go straight to verification, with no new approval asked.
    """
    keys = [
        e.key or "" for e in response.store.events_keyed(response.incident.number, f"{proposal.apply_key}:")
    ]
    if f"{proposal.apply_key}:applied" in keys:
        response.record(
            EventKind.MITIGATION_SKIPPED,
            f"{mitigation.id} was already applied to this incident; not applying it again",
            once=f"skipped:{proposal.apply_key}",
        )
        return True
    started = {k.rsplit(":", 1)[1] for k in keys if k.startswith(f"{proposal.apply_key}:started:")}
    ended = {
        k.rsplit(":", 1)[1]
        for k in keys
        if k.startswith((f"{proposal.apply_key}:failed:", f"{proposal.apply_key}:partial:"))
    }
    # A recorded failure or partial change may be tried again after a new approval (never
    # automatically); a start with no recorded outcome means a run died mid-change.
    if started - ended:
        response.record(
            EventKind.MITIGATION_UNKNOWN,
            f"{mitigation.id} was started before and its outcome was never recorded (a crash?): "
            "not re-applied; verifying instead",
            once=f"unknown:{proposal.apply_key}",
        )
        return True
    return False


def mitigate(response: Response, mitigation: Mitigation, proposal: Proposal, gate: GateOutcome) -> bool:
    """Execute exactly the approved change, once. True when it was applied."""
    spec = get_step(mitigation.use)
    assert spec is not None
    if spec.fn is None:
        response.record(
            EventKind.MITIGATION_FAILED,
            f"{mitigation.id}: {mitigation.use} is not available in this build; nothing executed",
            {"proposal": mitigation.id},
        )
        return False
    try:
        params = spec.params.model_validate({**proposal.params, **gate.adjustments})
    except ValidationError as exc:
        response.record(
            EventKind.MITIGATION_FAILED,
            f"{mitigation.id}: adjusted params invalid: {redact_text(str(exc))}",
            {"proposal": mitigation.id},
        )
        return False
    response.advance(
        Status.MITIGATING, f"mitigating: {mitigation.id} approved by {', '.join(gate.approvers)}"
    )
    response.store.append(
        response.incident.number,
        EventKind.MITIGATION_STARTED,
        f"executing {mitigation.id} ({mitigation.use}) as approved by {', '.join(gate.approvers)}",
        data={"params": redact(params.model_dump(mode="json")), "approvers": gate.approvers},
        key=f"{proposal.apply_key}:started:{response.run_key}",
    )
    response.publish()
    options: dict[str, Any] = {"task_run_name": mitigation.id, "retries": 0}
    if mitigation.timeout is not None:
        options["timeout_seconds"] = mitigation.timeout.total_seconds()
    result = step_task(spec).with_options(**options).submit(params).result(raise_on_failure=False)
    if isinstance(result, ChangeResult) and result.made:
        response.store.append(
            response.incident.number,
            EventKind.MITIGATION_APPLIED,
            f"{mitigation.id} applied: {headline(result)}",
            data={"proposal": mitigation.id, "result": redact(result.model_dump(mode="json"))},
            key=f"{proposal.apply_key}:applied",
        )
        response.publish()
        return True
    # Not made, or made only in part: recorded, never retried; a human decides what happens next (a
    # new approval may try it again).
    if isinstance(result, ChangeResult) and result.partial:
        kind, outcome, text = EventKind.MITIGATION_PARTIAL, "partial", f"{mitigation.id} made only in part"
    else:
        kind, outcome, text = EventKind.MITIGATION_FAILED, "failed", f"{mitigation.id} failed"
    if isinstance(result, ChangeResult):
        error = headline(result) + (f" ({result.error})" if result.error else "")
        data: dict[str, Any] = {"error": error, "result": redact(result.model_dump(mode="json"))}
    else:
        error = short_error(result) if isinstance(result, BaseException) else repr(result)
        data = {"error": error}
    data["proposal"] = mitigation.id
    response.store.append(
        response.incident.number,
        kind,
        f"{text}: {error}; not retried",
        data=data,
        key=f"{proposal.apply_key}:{outcome}:{response.run_key}",
    )
    response.advance(Status.INVESTIGATING, f"back to investigating: {text}")
    return False
