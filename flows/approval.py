"""The approval gate: a paused flow run with a typed form, identity by one-time code, policy, escalation.

Nothing behind the gate runs unless enough authorized, identity-proven people approved it. Every answer,
counted or not, is recorded on the incident's timeline.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import pyotp
from prefect.blocks.system import Secret
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field, create_model

from warroom.approvals import Judgement, Verdict, eligible, judge
from warroom.duration import format_duration
from warroom.incident import Incident
from warroom.redact import redact_text, register_secret
from warroom.runbook import ApprovalPolicy
from warroom.settings import Settings
from warroom.store import Store

APPROVER = r"^[A-Za-z0-9_.@-]{1,100}$"
TIMEOUT_APPROVER = "warroom"
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


# --- the form -----------------------------------------------------------------------------------------------


class ApprovalForm(RunInput):
    """What an approver fills in. Every rule is in the JSON Schema, which the Prefect server enforces."""

    decision: Literal["approve", "reject"] = Field(default="reject", description="approve runs the change")
    approver: str = Field(pattern=APPROVER, description="Your name as enrolled")
    code: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from your authenticator app")
    reason: str = Field(min_length=1, max_length=2000, description="Why; it goes on the incident timeline")


def form_for(params_model: type[BaseModel], adjustable: list[str], description: str) -> type[ApprovalForm]:
    """The form for one proposal: the base fields plus the step params the runbook lets approvers adjust."""
    fields: dict[str, Any] = {}
    for name in adjustable:
        info = copy.copy(params_model.model_fields[name])
        info.default = None
        info.default_factory = None
        fields[name] = (info.annotation | None, info)  # type: ignore[operator]
    form = create_model("ApprovalForm", __base__=ApprovalForm, **fields)
    form._description = description  # shown above the form in the Prefect UI
    return form


# --- the gate -----------------------------------------------------------------------------------------------


@dataclass
class GateOutcome:
    approved: bool
    timed_out: bool = False
    approvers: list[str] = field(default_factory=list)
    adjustments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class _Watchdog(threading.Thread):
    """Escalates while the gate is open, and at the deadline answers it itself: nothing executes.

    Prefect fails a run whose pause times out, even if the timeout is caught, so the deadline must never
    be Prefect's: this thread resumes the gate with a reject carrying a nonce only it knows.
    """

    def __init__(
        self,
        flow_run_id: UUID,
        escalate_in: float | None,
        deadline_in: float,
        on_escalate: Callable[[], None],
        answer: dict[str, Any],
    ) -> None:
        super().__init__(name="warroom-approval-watchdog", daemon=True)
        self.flow_run_id = flow_run_id
        self.started = time.monotonic()
        self.escalate_at = None if escalate_in is None else self.started + escalate_in
        self.deadline = self.started + deadline_in
        self.on_escalate = on_escalate
        self.answer = answer
        self.stopped = threading.Event()
        self.escalated = False

    def run(self) -> None:
        while not self.stopped.is_set():
            now = time.monotonic()
            if self.escalate_at is not None and not self.escalated and now >= self.escalate_at:
                self.escalated = True
                self.on_escalate()
            if now >= self.deadline:
                try:
                    resume_flow_run(self.flow_run_id, run_input=self.answer)
                    return
                except Exception:  # noqa: S110 - not paused this instant (an answer is being judged): retry
                    pass
            self.stopped.wait(0.5)

    def stop(self) -> None:
        self.stopped.set()


def approval_gate(
    store: Store,
    incident: Incident,
    *,
    proposal_id: str,
    summary: str,
    description: str,
    policy: ApprovalPolicy,
    params_model: type[BaseModel],
    adjustable: list[str],
    excluded: dict[str, str],
    settings: Settings,
    event_key: str,
) -> GateOutcome:
    """Pause until the proposal is approved by enough authorized people, rejected, or out of time."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        raise RuntimeError("the approval gate runs inside a flow run")
    flow_run_id = ctx.flow_run.id
    people = eligible(policy, settings.approver_groups, settings.oncall)
    nonce = secrets.token_hex(16)
    form = form_for(params_model, adjustable, description)
    timeout_answer: dict[str, Any] = {
        "decision": "reject",
        "approver": TIMEOUT_APPROVER,
        "code": "000000",
        "reason": f"approval deadline passed [{nonce}]",
    }
    escalation_lock = threading.Lock()

    def escalate() -> None:
        secondary = list(settings.oncall.get("secondary", []))[:1]
        with escalation_lock:
            people.update(secondary)
        who = ", ".join(secondary) or "nobody (no secondary on-call configured)"
        store.append(
            incident.number,
            "approval.escalated",
            f"{proposal_id}: no answer after {format_duration(policy.escalate_after or timedelta())}; "
            f"escalated to secondary on-call: {who}",
            data={"proposal": proposal_id, "notified": secondary},
            key=f"{event_key}:escalated",
        )

    store.append(
        incident.number,
        "approval.requested",
        f"approval requested for {proposal_id}: {summary}",
        data={
            "proposal": proposal_id,
            "eligible": sorted(people),
            "required": policy.required,
            "four_eyes": policy.four_eyes,
            "timeout": format_duration(policy.timeout),
            "flow_run_id": str(flow_run_id),
        },
        key=f"{event_key}:requested",
    )
    watchdog = _Watchdog(
        flow_run_id,
        None if policy.escalate_after is None else policy.escalate_after.total_seconds(),
        policy.timeout.total_seconds(),
        escalate,
        timeout_answer,
    )
    granted: list[str] = []
    adjustments: dict[str, Any] = {}
    watchdog.start()
    try:
        attempt = 0
        while True:
            attempt += 1
            remaining = max(1.0, watchdog.deadline - time.monotonic())
            answer = pause_flow_run(
                wait_for_input=form,
                # Prefect's own pause timeout is only a backstop behind the watchdog's deadline.
                timeout=int(remaining) + 300,
                poll_interval=settings.approval_poll_seconds,
                key=pause_key(proposal_id, attempt),
            )
            data = answer.model_dump(exclude={"code"})
            if answer.approver == TIMEOUT_APPROVER and nonce in answer.reason:
                store.append(
                    incident.number,
                    "approval.timed_out",
                    f"approval timed out for {proposal_id} after {format_duration(policy.timeout)}: "
                    "nothing executed",
                    data={"proposal": proposal_id, "granted": granted, "attempt": attempt},
                    key=f"{event_key}:timed_out",
                )
                return GateOutcome(False, timed_out=True, approvers=granted, reason="approval timed out")
            identity = check_code(answer.approver, answer.code)
            if identity.ok and identity.counter is not None:
                if not store.use_code(answer.approver, identity.counter, incident.number):
                    identity = Identity(False, f"one-time code already used by {answer.approver}")
            if not identity.ok:
                judgement = Judgement(Verdict.REFUSED, identity.why)
            else:
                with escalation_lock:
                    judgement = judge(
                        answer.decision,
                        answer.approver,
                        policy,
                        eligible_people=set(people),
                        excluded=excluded,
                        granted_by=granted,
                    )
            kind = f"approval.{judgement.verdict.value}"
            text = f"{proposal_id}: {judgement.why}"
            if judgement.verdict is not Verdict.REFUSED:
                text += f": {answer.reason}"
            store.append(
                incident.number,
                kind,
                text,
                actor=answer.approver,
                data={"proposal": proposal_id, "answer": data, "why": judgement.why, "attempt": attempt},
            )
            if judgement.verdict is Verdict.REJECTED:
                return GateOutcome(False, approvers=granted, reason=judgement.why)
            if judgement.verdict is Verdict.GRANTED:
                granted.append(answer.approver)
                adjustments.update({k: v for k, v in data.items() if k in adjustable and v is not None})
                if len(granted) >= policy.required:
                    return GateOutcome(True, approvers=granted, adjustments=adjustments, reason=answer.reason)
    finally:
        watchdog.stop()


# --- answering a gate (the CLI, chat, tests) ----------------------------------------------------------------


class GateError(RuntimeError):
    """No gate to answer, or the answer was refused before it reached the flow."""


@dataclass(frozen=True)
class OpenGate:
    flow_run_id: UUID
    flow_run_name: str
    proposal: str
    attempt: int


_PAUSE_KEY = re.compile(r"^approve-(?P<proposal>[a-z0-9-]+)-(?P<attempt>\d+)$")


def pause_key(proposal_id: str, attempt: int) -> str:
    """Prefect input keys are lowercase, digits and dashes; proposal ids have no dashes: reversible."""
    return f"approve-{proposal_id.replace('_', '-')}-{attempt}"


def open_gates(incident_ref: str) -> list[OpenGate]:
    """Approval gates waiting for an answer on this incident (paused flow runs tagged with it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"incident:{incident_ref}"]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
            )
        )
    gates = []
    for run in runs:
        key = run.state.state_details.pause_key if run.state else None
        m = _PAUSE_KEY.match(key or "")
        if m:
            proposal = m.group("proposal").replace("-", "_")
            gates.append(OpenGate(run.id, run.name, proposal, int(m.group("attempt"))))
    return gates


@dataclass(frozen=True)
class AnswerOutcome:
    verdict: str  # granted | rejected | refused | timed_out | unknown
    text: str
    proposal: str
    flow_run_id: UUID


def answer_gate(
    store: Store,
    incident_ref: str,
    *,
    approver: str,
    code: str,
    reason: str,
    decision: Literal["approve", "reject"] = "approve",
    proposal: str | None = None,
    adjust: dict[str, Any] | None = None,
    wait_seconds: float = 30.0,
) -> AnswerOutcome:
    """Resume the incident's waiting gate with an answer, then report how the gate judged it."""
    from prefect.exceptions import PrefectHTTPStatusError

    gates = open_gates(incident_ref)
    if proposal is not None:
        gates = [g for g in gates if g.proposal == proposal]
    if not gates:
        raise GateError(
            f"no approval is waiting on {incident_ref}" + (f" for {proposal}" if proposal else "")
        )
    if len(gates) > 1:
        names = ", ".join(sorted(g.proposal for g in gates))
        raise GateError(
            f"{len(gates)} approvals are waiting on {incident_ref} ({names}): pick one with --proposal"
        )
    gate = gates[0]
    answer = {"decision": decision, "approver": approver, "code": code, "reason": reason, **(adjust or {})}
    try:
        resume_flow_run(gate.flow_run_id, run_input=answer)
    except PrefectHTTPStatusError as exc:
        detail = exc.response.text if exc.response is not None else str(exc)
        raise GateError(f"the Prefect API refused the answer: {redact_text(detail)[:500]}") from None
    except RuntimeError as exc:
        raise GateError(f"the answer was not accepted: {exc}") from None
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        for event in reversed(store.timeline(incident_ref)):
            data = event.data
            if (
                event.kind.startswith("approval.")
                and data.get("proposal") == gate.proposal
                and data.get("attempt") == gate.attempt
            ):
                return AnswerOutcome(event.kind.split(".", 1)[1], event.text, gate.proposal, gate.flow_run_id)
        time.sleep(0.2)
    return AnswerOutcome(
        "unknown", "the flow did not record a judgement in time", gate.proposal, gate.flow_run_id
    )
