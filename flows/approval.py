"""The approval gate: a paused flow run with a typed form, identity by one-time code, policy, escalation.

Nothing behind the gate runs unless enough authorized, identity-proven people approved it. Every answer,
counted or not, is recorded on the incident's timeline under its own id, and the verdict is shown where it
was given: `warroom approve` prints it, the re-paused form in the UI starts with it.

The gate's state (deadline, escalation, approvals counted, last refusal) lives in the ledger, so a gate
outlives its process: when the process dies, the keeper of `warroom up` starts the run again and it
re-enters the same gate with the same deadline, asking for no second approval of what was counted.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyotp
from prefect.blocks.system import Secret
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.input import RunInput
from pydantic import BaseModel, Field, ValidationError, create_model

from flows.pause import PauseRefused, PrefectPause
from warroom.approvals import Judgement, Verdict, eligible, judge
from warroom.duration import format_duration
from warroom.incident import Incident
from warroom.ledger import Attempt, Gate, GateState, RunLedger, Store, now, pause_key
from warroom.redact import register_secret
from warroom.runbook import ApprovalPolicy
from warroom.settings import Settings

APPROVER = r"^[A-Za-z0-9_.@-]{1,100}$"
ISSUER = "Warroom"


# --- identity: one-time codes ---------------------------------------------------------------------------


def _block_name(approver: str) -> str:
    return "warroom-approver-" + re.sub(r"[^a-z0-9-]", "-", approver.lower())


class EnrollmentError(ValueError):
    pass


def enroll(approver: str, *, replace: bool = False) -> str:
    """Create a TOTP secret for ``approver`` in a Prefect Secret block; return the provisioning URI."""
    if not re.match(APPROVER, approver):
        raise EnrollmentError(f"approver names are letters, digits and _.@- (got {approver!r})")
    name = _block_name(approver)
    if not replace:
        try:
            Secret.load(name)
        except ValueError:
            pass
        else:
            raise EnrollmentError(f"{approver} is already enrolled; --replace issues a new secret")
    secret = pyotp.random_base32()
    Secret(value=json.dumps({"approver": approver, "totp": secret})).save(name, overwrite=True)
    return pyotp.TOTP(secret).provisioning_uri(name=approver, issuer_name=ISSUER)


def _secret_for(approver: str) -> str | None:
    try:
        block: Any = Secret.load(_block_name(approver))
        raw = block.get()
    except (ValueError, ObjectNotFound):
        return None
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict) or data.get("approver") != approver:
        return None
    secret = str(data["totp"])
    register_secret(secret)
    return secret


@dataclass(frozen=True)
class Identity:
    ok: bool
    why: str
    counter: int | None = None


def check_code(approver: str, code: str, at: datetime | None = None) -> Identity:
    """Is ``code`` the approver's current one-time code (one step of clock drift allowed)?"""
    secret = _secret_for(approver)
    if secret is None:
        return Identity(False, f"{approver} is not enrolled (warroom approvers enroll {approver})")
    totp = pyotp.TOTP(secret)
    when = at or datetime.now(UTC)
    for drift in (0, -1, 1):
        t = when + timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(t), code):
            return Identity(True, "code valid", totp.timecode(t))
    return Identity(False, f"wrong one-time code for {approver}")


# --- the form and the answer ----------------------------------------------------------------------------


class ApprovalForm(RunInput):
    """What the Prefect UI shows and its server checks: the decision is a required choice with no default.

    The other fields are deliberately loose here: a wrong code or a missing reason must reach the gate,
    which records it and shows the refusal on the next form, instead of vanishing in the UI.
    """

    decision: Literal["approve", "reject"] = Field(description="approve runs exactly the change above")
    approver: str = Field(max_length=200, description="Your name as enrolled")
    code: str = Field(max_length=100, description="The 6-digit code from your authenticator app")
    reason: str = Field(max_length=4000, description="Why; it goes on the incident timeline")
    # The server refuses keys the schema does not name, so the id `warroom approve` sends needs a field;
    # a UI answer that leaves it empty is given one by the gate.
    answer_id: str | None = Field(
        default=None, max_length=64, title="Answer id", description="Leave empty (`warroom approve` sets it)"
    )


class Answer(BaseModel):
    """An answer as the gate accepts it: the strict rules."""

    decision: Literal["approve", "reject"]
    approver: str = Field(pattern=APPROVER)
    code: str = Field(pattern=r"^[0-9]{6}$")
    reason: str = Field(min_length=1, max_length=2000)
    answer_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")


def _adjustable_fields(params_model: type[BaseModel], adjustable: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in adjustable:
        info = copy.copy(params_model.model_fields[name])
        info.default = None
        info.default_factory = None
        fields[name] = (info.annotation | None, info)  # type: ignore[operator]
    return fields


def form_for(params_model: type[BaseModel], adjustable: list[str], description: str) -> type[ApprovalForm]:
    """The form for one proposal: the base fields plus the step params the runbook lets approvers adjust."""
    form = create_model("ApprovalForm", __base__=ApprovalForm, **_adjustable_fields(params_model, adjustable))
    form._description = description  # shown above the form in the Prefect UI
    return form


def _answer_model(params_model: type[BaseModel], adjustable: list[str]) -> type[Answer]:
    return create_model("Answer", __base__=Answer, **_adjustable_fields(params_model, adjustable))


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e["loc"]) or "answer"
        msg = "the 6 digits from your authenticator app" if loc == "code" else e["msg"]
        parts.append(f"{loc}: {msg}")
    return "the answer is incomplete or malformed: " + "; ".join(parts)


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
    page: Callable[[Gate], str]  # the Markdown above the form, rendered at every pause
    policy: ApprovalPolicy
    params_model: type[BaseModel]
    adjustable: list[str]
    excluded: dict[str, str]
    settings: Settings
    event_key: str


class _Gate:
    def __init__(self, req: GateRequest, gate: Gate, flow_run_id: Any) -> None:
        self.req = req
        self.gate = gate
        self.flow_run_id = flow_run_id
        self.people = eligible(req.policy, req.settings.approver_groups, req.settings.oncall)
        if gate.escalated_at is not None:
            self.people.update(self._secondary())
        self.answer_model = _answer_model(req.params_model, req.adjustable)

    def _secondary(self) -> list[str]:
        return list(self.req.settings.oncall.get("secondary", []))[:1]

    def record(self, kind: str, text: str, data: dict[str, Any], **kw: Any) -> None:
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
                    "approval.escalated",
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
            "approval.timed_out",
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
        needed = self.req.policy.required - len(self.gate.granted)
        message = (
            f"waiting for approval of {self.gate.proposal} on {self.req.incident.id}: {needed} more needed, "
            f"closes {self.gate.deadline:%H:%M:%S} UTC"
        )
        try:
            pause.pause(form, message)
        except PauseRefused as exc:
            raise self.lost("not pausable", str(exc)) from None
        while True:
            if self.tick():
                pause.release()
                return self.time_out()
            poll = pause.poll()
            if poll.answer is not None:
                return poll.answer
            if poll.state is StateType.RUNNING:
                self.record(
                    "approval.disturbed",
                    f"{self.gate.proposal}: the run was set running without an answer (through the Prefect "
                    "API?); nothing executed, the gate waits again",
                    {"pause": pause_no},
                )
                return {}
            if poll.state is not StateType.PAUSED:
                raise self.lost(poll.state_name or "unknown", poll.message)
            time.sleep(self.req.settings.approval_poll_seconds)

    # -- judging -------------------------------------------------------------------------------------
    def judge(self, raw: dict[str, Any]) -> GateOutcome | None:
        """Judge one answer and record it under its own id; an outcome when the gate is decided."""
        answer_id = str(raw.get("answer_id") or uuid.uuid4().hex)
        key = f"answer:{answer_id}"
        approver = str(raw.get("approver") or "")[:100]
        if self.req.store.event_by_key(self.req.incident.number, key) is not None:
            key, judgement = (
                f"{key}:again:{uuid.uuid4().hex[:8]}",
                Judgement(Verdict.REFUSED, f"answer {answer_id} was judged before; an answer counts once"),
            )
            answer = None
        else:
            answer, judgement = self._judge(raw)
        shown = {k: v for k, v in raw.items() if k != "code"}
        data = {"answer": shown, "answer_id": answer_id, "why": judgement.why, "gate": self.gate.id}
        text = f"{self.gate.proposal}: {judgement.why}"
        if judgement.verdict is not Verdict.REFUSED and answer is not None:
            text += f": {answer.reason}"
        self.record(f"approval.{judgement.verdict.value}", text, data, actor=approver or "unknown", key=key)
        if judgement.verdict is Verdict.REFUSED:
            refusal = {"at": f"{now():%H:%M:%S} UTC", "approver": approver, "why": judgement.why}
            self.req.runs.refuse(self.gate.id, refusal)
            self.gate = self.req.runs.gate(self.gate.id)
            return None
        assert answer is not None
        if judgement.verdict is Verdict.REJECTED:
            self._close(GateState.REJECTED)
            return GateOutcome(False, approvers=self.gate.granted, reason=judgement.why)
        adjustments = {
            k: v for k, v in answer.model_dump().items() if k in self.req.adjustable and v is not None
        }
        self.gate = self.req.runs.grant(self.gate.id, answer.approver, adjustments)
        if len(self.gate.granted) < self.req.policy.required:
            return None
        self._close(GateState.GRANTED)
        return GateOutcome(
            True, approvers=self.gate.granted, adjustments=self.gate.adjustments, reason=answer.reason
        )

    def _close(self, state: GateState) -> None:
        if not self.req.runs.close(self.gate.id, state):
            raise GateLost(f"gate {self.gate.id} was closed elsewhere before its verdict")

    def _judge(self, raw: dict[str, Any]) -> tuple[Answer | None, Judgement]:
        if not raw:
            return None, Judgement(Verdict.REFUSED, "no answer was given")
        try:
            answer = self.answer_model.model_validate(raw)
        except ValidationError as exc:
            return None, Judgement(Verdict.REFUSED, _validation_text(exc))
        if now() >= self.gate.deadline:
            return answer, Judgement(Verdict.REFUSED, "the answer arrived after the gate's deadline")
        identity = check_code(answer.approver, answer.code)
        if identity.ok and identity.counter is not None:
            if not self.req.store.use_code(answer.approver, identity.counter, self.req.incident.number):
                identity = Identity(False, f"one-time code already used by {answer.approver}")
        if not identity.ok:
            return answer, Judgement(Verdict.REFUSED, identity.why)
        return answer, judge(
            answer.decision,
            answer.approver,
            self.req.policy,
            eligible_people=set(self.people),
            excluded=self.req.excluded,
            granted_by=self.gate.granted,
        )


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
            "approval.requested",
            f"approval requested for {req.proposal_id}: {req.summary}",
            {
                "gate": gate.id,
                "eligible": sorted(g.people),
                "required": req.policy.required,
                "four_eyes": req.policy.four_eyes,
                "timeout": format_duration(req.policy.timeout),
                "deadline": gate.deadline.isoformat(),
                "plan_digest": req.plan_digest,
                "flow_run_id": str(ctx.flow_run.id),
            },
            key=f"{req.event_key}:requested",
        )
    elif gate.state is not GateState.OPEN:
        return _decided(gate)
    else:
        g.record(
            "approval.reentered",
            f"{req.proposal_id}: the gate is open again in a new process; same proposal, "
            f"{len(gate.granted)} of {req.policy.required} approvals counted, "
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
