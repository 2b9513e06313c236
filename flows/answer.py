"""Answering a waiting gate from outside the flow (`warroom approve`, chat, tests) and reading its verdict.

This path is what a person waits on at 3 a.m., so it speaks to Prefect's REST API with httpx and does not
import Prefect (whose import alone takes over a second). The verdict it reports is the one recorded for this
answer's own id, never the latest row of the timeline.

It works with the ledger (on the Warroom host: gates checked against it, what is sent recorded before it is
sent, verdicts read from the timeline) or without (an approver's own machine, where their key is: the
gate's id, proposal and plan digest read from the copy the gate leaves beside its run, the verdict from
the copy it leaves after judging). Either way it signs only with the caller's own key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from flows import prefect_rest as rest
from warroom.answers import GATE_INPUT, SENT, VERDICT_INPUT, GateError, judged_key, removed_key
from warroom.chat.proof import CHAT
from warroom.events import EventKind
from warroom.incident import parse_incident_ref
from warroom.ledger import ChatAnswer, RunLedger, Store, parse_pause_key, pause_key
from warroom.redact import redact_text
from warroom.signing import Signer, answer_message


@dataclass(frozen=True)
class OpenGate:
    flow_run_id: str
    flow_run_name: str
    proposal: str
    gate_id: int
    pause: int
    plan_digest: str  # what a signed answer signs, as the ledger holds it


AnswerVerdict = Literal["granted", "rejected", "refused", "removed", "unknown"]
# The verdict an answer got, by the kind of the event the gate recorded for it.
VERDICT_OF_KIND: dict[EventKind, AnswerVerdict] = {
    EventKind.APPROVAL_GRANTED: "granted",
    EventKind.APPROVAL_REJECTED: "rejected",
    EventKind.APPROVAL_REFUSED: "refused",
    EventKind.APPROVAL_REMOVED: "removed",
}


def _verdict_named(value: object) -> AnswerVerdict:
    """A verdict as the gate's copy beside its run names it; anything else is unknown."""
    return next((v for v in VERDICT_OF_KIND.values() if v == value), "unknown")


@dataclass(frozen=True)
class AnswerOutcome:
    verdict: AnswerVerdict
    text: str
    proposal: str
    flow_run_id: str
    answer_id: str


def open_gates(store: Store | None, incident_ref: str, client: httpx.Client | None = None) -> list[OpenGate]:
    """Approval gates waiting for an answer on this incident: paused runs tagged with it, at a gate (one the
    ledger has, or without a ledger, one whose copy beside the run names this incident)."""
    body = {
        "flow_runs": {
            "tags": {"all_": [f"incident:{incident_ref}"]},
            "state": {"type": {"any_": ["PAUSED"]}},
        }
    }
    own = client is None
    http = client or rest.client()
    try:
        response = rest.post(http, "/flow_runs/filter", body)
        gates = _gates_of(store, incident_ref, http, response.json())
    except httpx.HTTPError as exc:
        raise GateError(f"cannot reach the Prefect API: {redact_text(str(exc))[:300]}") from None
    finally:
        if own:
            http.close()
    return gates


def _gates_of(
    store: Store | None, incident_ref: str, http: httpx.Client, runs: list[dict[str, Any]]
) -> list[OpenGate]:
    ledger = RunLedger(store) if store is not None else None
    number = parse_incident_ref(incident_ref)
    gates = []
    for run in runs:
        parsed = parse_pause_key(((run.get("state") or {}).get("state_details") or {}).get("pause_key"))
        if parsed is None:
            continue
        if ledger is None:
            meta = rest.read_input(http, run["id"], GATE_INPUT.format(key=pause_key(*parsed)))
            if (
                not isinstance(meta, dict)
                or meta.get("incident") != incident_ref
                or meta.get("gate") != parsed[0]
            ):
                continue
            gates.append(
                OpenGate(
                    run["id"],
                    run["name"],
                    str(meta["proposal"]),
                    parsed[0],
                    parsed[1],
                    str(meta["plan_digest"]),
                )
            )
            continue
        gate = ledger.find_gate(parsed[0])
        # The gate must be this run's on this incident: a Prefect server shared by several ledgers (two
        # installs, or tests) has paused runs whose gate ids mean something else here.
        if (
            gate is None
            or gate.incident_number != number
            or ledger.attempt(gate.attempt_id).flow_run_id != run["id"]
        ):
            continue
        gates.append(OpenGate(run["id"], run["name"], gate.proposal, gate.id, parsed[1], gate.plan_digest))
    return gates


def _waiting(
    store: Store | None,
    incident_ref: str,
    http: httpx.Client,
    wanted: Callable[[OpenGate], bool],
    patience: float,
) -> list[OpenGate]:
    """The paused gates; when the ledger says a gate is open but its run is between two pauses (it is
    judging the answer before this one), wait for it to pause again rather than say nothing waits."""
    deadline = time.monotonic() + patience
    number = store.get(incident_ref).number if store is not None else None
    while True:
        gates = [g for g in open_gates(store, incident_ref, http) if wanted(g)]
        if gates or time.monotonic() >= deadline:
            return gates
        if store is not None and number is not None and not RunLedger(store).has_open_gate(number):
            return gates
        time.sleep(0.3)


def answer_gate(
    store: Store | None,
    incident_ref: str,
    *,
    reason: str,
    signer: Signer | None = None,
    approver: str | None = None,
    code: str = "",
    decision: Literal["approve", "reject"] = "approve",
    proposal: str | None = None,
    adjust: dict[str, Any] | None = None,
    wait_seconds: float = 30.0,
) -> AnswerOutcome:
    """Resume the incident's waiting gate with an answer, then report how the gate judged that answer.

    With ``signer`` the answer is signed over the gate's plan as the signer's owner, never as ``approver``;
    without, ``approver`` and a one-time ``code`` prove who answers."""
    who = signer.name if signer is not None else approver
    if not who:
        raise GateError("who answers? sign with your key, or give a name and a one-time code")
    with rest.client() as http:
        gates = _waiting(
            store,
            incident_ref,
            http,
            lambda g: proposal is None or g.proposal == proposal,
            min(wait_seconds, 15.0),
        )
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
        answer_id = uuid.uuid4().hex
        answer = {
            "decision": decision,
            "approver": who,
            "code": "" if signer is not None else code,
            "reason": reason,
            "answer_id": answer_id,
            **(adjust or {}),
        }
        if signer is not None:
            message = answer_message(
                gate=gate.gate_id,
                incident=incident_ref,
                proposal=gate.proposal,
                plan_digest=gate.plan_digest,
                decision=decision,
                approver=who,
                reason=reason,
                answer_id=answer_id,
                adjustments=adjust or {},
            )
            answer["signature"] = signer.sign(message)
        how = " (signed)" if signer else " (one-time code)"
        return _send(store, incident_ref, http, gate, answer, who, how, wait_seconds)


def answer_from_chat(
    store: Store, incident_ref: str, answer: ChatAnswer, wait_seconds: float = 30.0
) -> AnswerOutcome:
    """Resume the gate a chat answer was given for, with the answer the receiver vouched for in the ledger.

    The gate reads the decision, the person, the reason and the adjustments from the ledger's record; the
    copy sent through Prefect names them for people reading the run, and counts for nothing."""
    with rest.client() as http:
        gates = _waiting(
            store, incident_ref, http, lambda g: g.gate_id == answer.gate_id, min(wait_seconds, 15.0)
        )
        if not gates:
            raise GateError(f"the approval this answer was given for (gate {answer.gate_id}) is not waiting")
        run_input = {
            "decision": answer.decision,
            "approver": answer.approver,
            "code": "",
            "reason": answer.reason,
            "answer_id": answer.answer_id,
            "via": CHAT,
        }
        how = f" (in {answer.provider} as {answer.chat_user})"
        return _send(store, incident_ref, http, gates[0], run_input, answer.approver, how, wait_seconds)


def _send(
    store: Store | None,
    incident_ref: str,
    http: httpx.Client,
    gate: OpenGate,
    answer: dict[str, Any],
    who: str,
    how: str,
    wait_seconds: float,
) -> AnswerOutcome:
    """Record what is sent (on the host), resume the paused run with it, and wait for its verdict."""
    answer_id = str(answer["answer_id"])
    decision = answer["decision"]
    shown = {k: v for k, v in answer.items() if k not in ("code", "signature")}
    if store is not None:
        # Recorded before it is sent: an answer removed from Prefect on the way is still on the timeline.
        store.append(
            incident_ref,
            SENT,
            f"{gate.proposal}: {who} sent {decision}{how}",
            actor=who[:100],
            data={
                "proposal": gate.proposal,
                "gate": gate.gate_id,
                "answer_id": answer_id,
                "answer": shown,
            },
            key=f"sent:{answer_id}",
        )
    try:
        result = rest.resume(http, gate.flow_run_id, answer)
    except httpx.HTTPError as exc:
        raise GateError(f"the Prefect API refused the answer: {redact_text(str(exc))[:300]}") from None
    if result.get("status") != "ACCEPT":
        return _refused_on_the_way(store, incident_ref, gate, answer_id, shown, who, result)
    return _verdict(store, incident_ref, http, gate, answer_id, wait_seconds)


def _refused_on_the_way(
    store: Store | None,
    incident_ref: str,
    gate: OpenGate,
    answer_id: str,
    shown: dict[str, Any],
    who: str,
    result: dict[str, Any],
) -> AnswerOutcome:
    why = redact_text(str((result.get("details") or {}).get("reason") or result.get("status")))[:500]
    refused = f"{gate.proposal}: refused before it reached the gate: {why}"
    if store is not None:  # every answer, counted or not, is on the timeline
        store.append(
            incident_ref,
            EventKind.APPROVAL_REFUSED,
            refused,
            actor=who if len(who) <= 100 else "unknown",
            data={
                "proposal": gate.proposal,
                "gate": gate.gate_id,
                "answer_id": answer_id,
                "answer": shown,
                "why": why,
            },
            key=judged_key(answer_id),
        )
    return AnswerOutcome("refused", refused, gate.proposal, gate.flow_run_id, answer_id)


def _verdict(
    store: Store | None, incident_ref: str, http: httpx.Client, gate: OpenGate, answer_id: str, wait: float
) -> AnswerOutcome:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if store is not None:
            event = store.event_by_key(incident_ref, judged_key(answer_id)) or store.event_by_key(
                incident_ref, removed_key(answer_id)
            )
            if event is not None:
                verdict = VERDICT_OF_KIND.get(event.kind, "unknown")
                return AnswerOutcome(verdict, event.text, gate.proposal, gate.flow_run_id, answer_id)
        else:
            seen = rest.read_input(http, gate.flow_run_id, VERDICT_INPUT.format(answer_id=answer_id))
            if isinstance(seen, dict):
                return AnswerOutcome(
                    _verdict_named(seen.get("verdict")),
                    str(seen.get("text")),
                    gate.proposal,
                    gate.flow_run_id,
                    answer_id,
                )
        time.sleep(0.05)
    return AnswerOutcome(
        "unknown",
        "the gate recorded no judgement in time (was the answer removed from Prefect on the way?)",
        gate.proposal,
        gate.flow_run_id,
        answer_id,
    )
