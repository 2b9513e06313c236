"""The approval gate: a paused flow run with a typed form, identity by one-time code, policy, escalation.

Nothing behind the gate runs unless enough authorized, identity-proven people approved it. Every answer,
counted or not, is recorded on the incident's timeline under its own id, and the verdict is shown where it
was given: `warroom approve` prints it, the re-paused form in the UI starts with it.

The gate's state (deadline, escalation, approvals counted, last refusal) lives in the ledger, so a gate
outlives its process: when the process dies, the keeper of `warroom up` starts the run again and it
re-enters the same gate with the same deadline, asking for no second approval of what was counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from pydantic import BaseModel, ValidationError

from flows.approval_form import Answer, answer_model, form_for, validation_text
from flows.pause import PauseRefused, PrefectPause, prefect_events
from flows.slots import waiting_for_a_person
from warroom.answers import GATE_INPUT, VERDICT_INPUT, judged_key, removed_key, sent_unjudged
from warroom.approvals import Judgement, Verdict, eligible, judge
from warroom.chat.proof import chat_identity, from_chat, vouched
from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.identity import Identity, Purpose, check_signature, spend_code
from warroom.incident import Incident
from warroom.ledger import Attempt, Gate, GateState, RunLedger, Store, now, pause_key
from warroom.oncall.current import on_call
from warroom.proposal import GatePage
from warroom.runbook import ApprovalPolicy
from warroom.settings import Settings
from warroom.signing import answer_message

# What the gate records for each verdict it reaches on an answer.
JUDGED = {
    Verdict.GRANTED: EventKind.APPROVAL_GRANTED,
    Verdict.REJECTED: EventKind.APPROVAL_REJECTED,
    Verdict.REFUSED: EventKind.APPROVAL_REFUSED,
}

# --- the gate ---------------------------------------------------------------------------------------------


@dataclass
class GateOutcome:
    approved: bool
    timed_out: bool = False
    approvers: list[str] = field(default_factory=list)
    adjustments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class GateLost(RuntimeError):
    """The run was taken away from the gate (cancelled, failed or otherwise forced); recorded as run.lost."""


@dataclass
class GateRequest:
    """One proposal waiting for people, with everything the gate needs to judge answers to it."""

    store: Store
    runs: RunLedger
    attempt: Attempt
    incident: Incident
    proposal_id: str
    plan_digest: str
    summary: str
    page: Callable[[Gate], GatePage]  # what the form shows, rendered at every pause
    policy: ApprovalPolicy
    params_model: type[BaseModel]
    adjustable: list[str]
    excluded: dict[str, str]
    required: int  # the policy's count, or more when four-eyes cannot tell who started the run
    settings: Settings
    event_key: str
    signed: bool = False  # count only signed answers (the runbook's policy or the severity level's)
    team: str | None = None  # whose on-call schedule answers `oncall:` approvers and escalation


class _Gate:
    def __init__(self, req: GateRequest, gate: Gate, flow_run_id: Any) -> None:
        self.req = req
        self.gate = gate
        self.flow_run_id = flow_run_id
        self.people = eligible(req.policy, req.settings.approver_groups, self._on_call())
        if gate.escalated_at is not None:
            self.people.update(self._secondary())
        self.answer_model = answer_model(req.params_model, req.adjustable)
        self.pause: PrefectPause | None = None

    def _on_call(self) -> dict[str, list[str]]:
        return on_call(self.req.settings, self.req.store, self.req.team)

    def _secondary(self) -> list[str]:
        return list(self._on_call().get("secondary", []))[:1]

    def record(self, kind: EventKind, text: str, data: dict[str, Any], **kw: Any) -> None:
        self.req.store.append(
            self.req.incident.number, kind, text, data={"proposal": self.req.proposal_id, **data}, **kw
        )

    # -- time ----------------------------------------------------------------------------------------
    def tick(self) -> bool:
        """Escalation; True when the deadline has passed (the run's heartbeat thread keeps it alive)."""
        at = now()
        g = self.gate
        if g.escalate_at is not None and g.escalated_at is None and at >= g.escalate_at:
            if self.req.runs.mark_escalated(g.id):
                secondary = self._secondary()
                self.people.update(secondary)
                who = ", ".join(secondary) or "nobody (no secondary on-call configured)"
                waited = format_duration(self.req.policy.escalate_after or timedelta())
                self.record(
                    EventKind.APPROVAL_ESCALATED,
                    f"{g.proposal}: no answer after {waited}; escalated to secondary on-call: {who}",
                    {"notified": secondary},
                    key=f"{self.req.event_key}:escalated",
                )
            self.gate = self.req.runs.gate(g.id)
        return at >= g.deadline

    def time_out(self) -> GateOutcome:
        if not self.req.runs.close(self.gate.id, GateState.TIMED_OUT):
            raise GateLost(f"gate {self.gate.id} was closed elsewhere while it waited")
        self.record(
            EventKind.APPROVAL_TIMED_OUT,
            f"approval timed out for {self.gate.proposal} after "
            f"{format_duration(self.req.policy.timeout)}: nothing executed",
            {"granted": self.gate.granted},
            key=f"{self.req.event_key}:timed_out",
        )
        return GateOutcome(False, timed_out=True, approvers=self.gate.granted, reason="approval timed out")

    def lost(self, state: str, message: str) -> GateLost:
        why = f"it left the approval gate for {self.gate.proposal}: Prefect state {state}" + (
            f" ({message})" if message else ""
        )
        self.req.runs.write_off(self.req.attempt, why, {"prefect_state": state, "message": message})
        return GateLost(why)

    # -- waiting -------------------------------------------------------------------------------------
    def wait_for_answer(self) -> dict[str, Any] | GateOutcome:
        """Pause once and wait for one answer; or the verdict of time."""
        pause_no = self.req.runs.next_pause(self.gate.id)
        pause = PrefectPause(self.flow_run_id, pause_key(self.gate.id, pause_no))
        form = form_for(self.req.params_model, self.req.adjustable, self.req.page(self.gate))
        needed = self.req.required - len(self.gate.granted)
        message = (
            f"waiting for approval of {self.gate.proposal} on {self.req.incident.id}: {needed} more needed, "
            f"closes {self.gate.deadline:%H:%M:%S} UTC"
        )
        # What `warroom approve` signs, for an approver whose machine has no ledger; the gate checks every
        # signature against the ledger's own values, so a copy altered here only makes answers fail. Left
        # before the run pauses, so it is there when the run shows as paused.
        pause.publish(
            GATE_INPUT.format(key=pause.key),
            {
                "gate": self.gate.id,
                "incident": self.req.incident.id,
                "proposal": self.gate.proposal,
                "plan_digest": self.gate.plan_digest,
                "deadline": self.gate.deadline.isoformat(),
                "summary": self.req.summary,
            },
        )
        try:
            pause.pause(form, message)
        except PauseRefused as exc:
            raise self.lost("not pausable", str(exc)) from None
        self.pause = pause
        paused_at = now()
        with waiting_for_a_person(pause.flow_run_id):  # a capped lane's slot is free meanwhile
            while True:
                if self.tick():
                    pause.release()
                    return self.time_out()
                poll = pause.poll(self.req.settings.approval_poll_seconds)
                if poll.answer is not None:
                    return poll.answer
                if poll.state is StateType.RUNNING:
                    self._resumed_without_answer(pause_no, paused_at)
                    return {}
                if poll.state is not StateType.PAUSED:
                    raise self.lost(poll.state_name or "gone from Prefect", poll.message)

    def _resumed_without_answer(self, pause_no: int, paused_at: Any) -> None:
        """Resumed, and no answer in Prefect's input store: one was removed through the Prefect API before
        the gate read it, or the run was set running without one. Either way it is recorded."""
        history = prefect_events(self.flow_run_id, paused_at)
        sent = sent_unjudged(self.req.store.timeline(self.req.incident.number), self.gate.id)
        for event in sent:
            answer_id = str(event.data.get("answer_id"))
            shown = event.data.get("answer") or {}
            self.record(
                EventKind.APPROVAL_REMOVED,
                f"{self.gate.proposal}: the answer {answer_id} that {event.actor} sent "
                f"({shown.get('decision', '?')}) was removed by the Prefect API before the gate read it; "
                "it counts for nothing: answer again",
                {"answer_id": answer_id, "answer": shown, "gate": self.gate.id, "prefect_events": history},
                actor=event.actor,
                key=removed_key(answer_id),
            )
        if not sent:
            self.record(
                EventKind.APPROVAL_DISTURBED,
                f"{self.gate.proposal}: the run was set running with no answer in Prefect's input store (an "
                "answer removed by the Prefect API, or none given); nothing executed, the gate waits again",
                {"pause": pause_no, "gate": self.gate.id, "prefect_events": history},
            )

    # -- judging -------------------------------------------------------------------------------------
    def judge(self, raw: dict[str, Any]) -> GateOutcome | None:
        """Judge one answer and record it under its own id; an outcome when the gate is decided."""
        raw = vouched(self.req.store, raw)  # a chat answer is judged as the receiver vouched for it
        answer_id = str(raw.get("answer_id") or uuid.uuid4().hex)
        key = judged_key(answer_id)
        approver = str(raw.get("approver") or "")[:100]
        replayed = self.req.store.event_by_key(self.req.incident.number, key) is not None
        if replayed:
            key, judgement = (
                f"{key}:again:{uuid.uuid4().hex[:8]}",
                Judgement(Verdict.REFUSED, f"answer {answer_id} was judged before; an answer counts once"),
            )
            answer = None
        else:
            answer, judgement = self._judge(raw, answer_id)
        shown = {k: v for k, v in raw.items() if k not in ("code", "signature")}
        if raw.get("signature"):
            shown["signed"] = True
        data = {"answer": shown, "answer_id": answer_id, "why": judgement.why, "gate": self.gate.id}
        text = f"{self.gate.proposal}: {judgement.why}"
        if judgement.verdict is not Verdict.REFUSED and answer is not None:
            text += f": {answer.reason}"
        self.record(JUDGED[judgement.verdict], text, data, actor=approver or "unknown", key=key)
        if self.pause is not None and not replayed:
            self.pause.publish(
                VERDICT_INPUT.format(answer_id=answer_id.lower()),
                {"verdict": judgement.verdict.value, "text": text, "gate": self.gate.id},
                background=True,
            )
        if judgement.verdict is Verdict.REFUSED:
            refusal = {"at": f"{now():%H:%M:%S} UTC", "approver": approver, "why": judgement.why}
            self.req.runs.refuse(self.gate.id, refusal)
            self.gate = self.req.runs.gate(self.gate.id)
            return None
        assert answer is not None
        if judgement.verdict is Verdict.REJECTED:
            self._close(GateState.REJECTED)
            return GateOutcome(False, approvers=self.gate.granted, reason=judgement.why)
        self.gate = self.req.runs.grant(self.gate.id, answer.approver, self._adjustments(answer))
        if len(self.gate.granted) < self.req.required:
            return None
        self._close(GateState.GRANTED)
        return GateOutcome(
            True, approvers=self.gate.granted, adjustments=self.gate.adjustments, reason=answer.reason
        )

    def _close(self, state: GateState) -> None:
        if not self.req.runs.close(self.gate.id, state):
            raise GateLost(f"gate {self.gate.id} was closed elsewhere before its verdict")

    def _judge(self, raw: dict[str, Any], answer_id: str) -> tuple[Answer | None, Judgement]:
        if not raw:
            return None, Judgement(Verdict.REFUSED, "no answer was given")
        try:
            answer = self.answer_model.model_validate(raw)
        except ValidationError as exc:
            return None, Judgement(Verdict.REFUSED, validation_text(exc))
        if now() >= self.gate.deadline:
            return answer, Judgement(Verdict.REFUSED, "the answer arrived after the gate's deadline")
        identity = self._identity(answer, raw, answer_id)
        if not identity.ok:
            return answer, Judgement(Verdict.REFUSED, identity.why)
        return answer, judge(
            answer.decision,
            answer.approver,
            self.req.policy,
            eligible_people=set(self.people),
            excluded=self.req.excluded,
            granted_by=self.gate.granted,
            required=self.req.required,
        )

    def _identity(self, answer: Answer, raw: dict[str, Any], answer_id: str) -> Identity:
        """Who gave this answer: its signature over this gate's plan, the receiver's word for a chat answer
        (bound to this gate and plan), or a one-time code."""
        store, settings = self.req.store, self.req.settings
        if answer.signature:
            message = answer_message(
                gate=self.gate.id,
                incident=self.req.incident.id,
                proposal=self.gate.proposal,
                plan_digest=self.gate.plan_digest,
                decision=answer.decision,
                approver=answer.approver,
                reason=answer.reason,
                answer_id=answer_id,
                # As sent: the signer signed the values it typed; validation only parses them.
                adjustments={k: raw[k] for k in self.req.adjustable if raw.get(k) is not None},
            )
            return check_signature(store, answer.approver, message, answer.signature)
        if self.req.signed:
            return Identity(
                False, "this gate takes signed answers only: answer with `warroom approve` and your key"
            )
        if from_chat(raw):
            return chat_identity(store, self.gate, answer_id)
        if not answer.code:
            return Identity(False, "a one-time code (or a signed answer from `warroom approve`) is required")
        # Spent when first judged, whatever the verdict: a code seen once is never good again.
        return spend_code(
            store,
            settings,
            answer.approver,
            answer.code,
            self.req.incident.number,
            purpose=Purpose.APPROVE,
        )

    def _adjustments(self, answer: Answer) -> dict[str, Any]:
        return {k: v for k, v in answer.model_dump().items() if k in self.req.adjustable and v is not None}


def approval_gate(req: GateRequest) -> GateOutcome:
    """Pause until the proposal is approved by enough authorized people, rejected, or out of time."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        raise RuntimeError("the approval gate runs inside a flow run")
    gate, created = req.runs.open_gate(
        req.attempt.id,
        req.incident.number,
        req.proposal_id,
        req.plan_digest,
        escalate_after=req.policy.escalate_after,
        timeout=req.policy.timeout,
    )
    g = _Gate(req, gate, ctx.flow_run.id)
    if created:
        g.record(
            EventKind.APPROVAL_REQUESTED,
            f"approval requested for {req.proposal_id}: {req.summary}",
            {
                "gate": gate.id,
                "eligible": sorted(g.people),
                "required": req.required,
                "four_eyes": req.policy.four_eyes,
                "timeout": format_duration(req.policy.timeout),
                "deadline": gate.deadline.isoformat(),
                "plan_digest": req.plan_digest,
                "adjustable": req.adjustable,
                "signed_only": req.signed,
                "flow_run_id": str(ctx.flow_run.id),
            },
            key=f"{req.event_key}:requested",
        )
    elif gate.state is not GateState.OPEN:
        return _decided(gate)
    else:
        g.record(
            EventKind.APPROVAL_REENTERED,
            f"{req.proposal_id}: the gate is open again in a new process; same proposal, "
            f"{len(gate.granted)} of {req.required} approvals counted, "
            f"closes {gate.deadline:%H:%M:%S} UTC as before",
            {"gate": gate.id, "pauses": gate.pauses},
            key=f"{req.event_key}:reentered:{gate.pauses}",
        )
    req.runs.set_waiting(req.attempt.id, True)
    try:
        while True:
            answer = g.wait_for_answer()
            if isinstance(answer, GateOutcome):
                return answer
            if answer == {}:
                continue  # resumed without an answer: recorded, wait again
            outcome = g.judge(answer)
            if outcome is not None:
                return outcome
    finally:
        req.runs.set_waiting(req.attempt.id, False)


def _decided(gate: Gate) -> GateOutcome:
    """A gate decided before this process re-entered it: its verdict stands."""
    if gate.state is GateState.GRANTED:
        return GateOutcome(True, approvers=gate.granted, adjustments=gate.adjustments)
    if gate.state is GateState.TIMED_OUT:
        return GateOutcome(False, timed_out=True, approvers=gate.granted, reason="approval timed out")
    if gate.state is GateState.REJECTED:
        return GateOutcome(False, approvers=gate.granted, reason="rejected")
    raise GateLost(f"gate {gate.id} was lost")
