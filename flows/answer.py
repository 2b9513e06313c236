"""Answering a waiting gate from outside the flow (`warroom approve`, chat, tests) and reading its verdict.

This path is what a person waits on at 3 a.m., so it speaks to Prefect's REST API with httpx and does not
import Prefect (whose import alone takes over a second). The verdict it reports is the one recorded for this
answer's own id, never the latest row of the timeline.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from warroom.incident import parse_incident_ref
from warroom.ledger import RunLedger, Store, parse_pause_key
from warroom.redact import redact_text


class GateError(RuntimeError):
    """No gate to answer, or the answer was refused before it reached the flow."""


@dataclass(frozen=True)
class OpenGate:
    flow_run_id: str
    flow_run_name: str
    proposal: str
    gate_id: int
    pause: int
    plan_digest: str  # what a signed answer signs, as the ledger holds it


@dataclass(frozen=True)
class AnswerOutcome:
    verdict: str  # granted | rejected | refused | unknown
    text: str
    proposal: str
    flow_run_id: str
    answer_id: str


def _api() -> tuple[str, dict[str, str], tuple[str, str] | None]:
    url = os.environ.get("PREFECT_API_URL")
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    key = os.environ.get("PREFECT_API_KEY")
    if not url:  # only then pay for Prefect's settings (profiles, .env)
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

        url = PREFECT_API_URL.value()
        auth = auth or PREFECT_API_AUTH_STRING.value()
        key = key or PREFECT_API_KEY.value()
    if not url:
        raise GateError("no Prefect API configured: set PREFECT_API_URL (warroom up prints it)")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    user, _, password = (auth or "").partition(":")
    basic = (user, password) if auth and ":" in auth else None
    return url.rstrip("/"), headers, basic


_RETRY_STATUS = {429, 502, 503, 504}  # a busy Prefect server (SQLite locked): what Prefect's client retries


def _post(http: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    """POST, retried with backoff while the server says it is busy, as Prefect's own client does."""
    for delay in (0.2, 0.5, 1.0, 2.0, 4.0):
        response = http.post(url, json=body)
        if response.status_code not in _RETRY_STATUS:
            break
        time.sleep(
            float(response.headers.get("Retry-After", delay)) if response.status_code == 429 else delay
        )
    response.raise_for_status()
    return response


def _client() -> httpx.Client:
    url, headers, basic = _api()
    return httpx.Client(base_url=url, headers=headers, auth=basic, timeout=15)


def open_gates(store: Store, incident_ref: str, client: httpx.Client | None = None) -> list[OpenGate]:
    """Approval gates waiting for an answer on this incident: paused runs tagged with it, at a ledger gate."""
    body = {
        "flow_runs": {
            "tags": {"all_": [f"incident:{incident_ref}"]},
            "state": {"type": {"any_": ["PAUSED"]}},
        }
    }
    own = client is None
    http = client or _client()
    try:
        response = _post(http, "/flow_runs/filter", body)
    except httpx.HTTPError as exc:
        raise GateError(f"cannot reach the Prefect API: {redact_text(str(exc))[:300]}") from None
    finally:
        if own:
            http.close()
    runs = RunLedger(store)
    number = parse_incident_ref(incident_ref)
    gates = []
    for run in response.json():
        parsed = parse_pause_key(((run.get("state") or {}).get("state_details") or {}).get("pause_key"))
        if parsed is None:
            continue
        gate = runs.find_gate(parsed[0])
        # The gate must be this run's on this incident: a Prefect server shared by several ledgers (two
        # installs, or tests) has paused runs whose gate ids mean something else here.
        if (
            gate is None
            or gate.incident_number != number
            or runs.attempt(gate.attempt_id).flow_run_id != run["id"]
        ):
            continue
        gates.append(OpenGate(run["id"], run["name"], gate.proposal, gate.id, parsed[1], gate.plan_digest))
    return gates


def _sign(
    gate: OpenGate, incident_ref: str, answer: dict[str, Any], key: Path, adjust: dict[str, Any]
) -> str:
    from warroom.identity import EnrollmentError, answer_message, sign

    message = answer_message(
        gate=gate.gate_id,
        incident=incident_ref,
        proposal=gate.proposal,
        plan_digest=gate.plan_digest,
        decision=answer["decision"],
        approver=answer["approver"],
        reason=answer["reason"],
        answer_id=answer["answer_id"],
        adjustments=adjust,
    )
    try:
        return sign(key, message)
    except EnrollmentError as exc:
        raise GateError(str(exc)) from None


def _waiting(
    store: Store, incident_ref: str, http: httpx.Client, proposal: str | None, patience: float
) -> list[OpenGate]:
    """The paused gates; when the ledger says a gate is open but its run is between two pauses (it is
    judging the answer before this one), wait for it to pause again rather than say nothing waits."""
    deadline = time.monotonic() + patience
    number = store.get(incident_ref).number
    while True:
        gates = [
            g for g in open_gates(store, incident_ref, http) if proposal is None or g.proposal == proposal
        ]
        if gates or time.monotonic() >= deadline or not RunLedger(store).has_open_gate(number):
            return gates
        time.sleep(0.3)


def answer_gate(
    store: Store,
    incident_ref: str,
    *,
    approver: str,
    code: str,
    reason: str,
    key_file: Path | None = None,
    decision: Literal["approve", "reject"] = "approve",
    proposal: str | None = None,
    adjust: dict[str, Any] | None = None,
    wait_seconds: float = 30.0,
) -> AnswerOutcome:
    """Resume the incident's waiting gate with an answer, then report how the gate judged that answer.

    With ``key_file`` the answer is signed over the gate's plan (``warroom/identity.py``), and ``code`` may be
    empty."""
    with _client() as http:
        gates = _waiting(store, incident_ref, http, proposal, min(wait_seconds, 15.0))
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
            "approver": approver,
            "code": code,
            "reason": reason,
            "answer_id": answer_id,
            **(adjust or {}),
        }
        if key_file is not None:
            answer["signature"] = _sign(gate, incident_ref, answer, key_file, adjust or {})
        try:
            result = _post(http, f"/flow_runs/{gate.flow_run_id}/resume", {"run_input": answer}).json()
        except httpx.HTTPError as exc:
            raise GateError(f"the Prefect API refused the answer: {redact_text(str(exc))[:300]}") from None
    if result.get("status") != "ACCEPT":
        why = redact_text(str((result.get("details") or {}).get("reason") or result.get("status")))[:500]
        refused = f"{gate.proposal}: refused before it reached the gate: {why}"
        # Recorded too: every answer, counted or not, is on the timeline.
        store.append(
            incident_ref,
            "approval.refused",
            refused,
            actor=approver if len(approver) <= 100 else "unknown",
            data={
                "proposal": gate.proposal,
                "gate": gate.gate_id,
                "answer_id": answer_id,
                "answer": {k: v for k, v in answer.items() if k not in ("code", "signature")},
                "why": why,
            },
            key=f"answer:{answer_id}",
        )
        return AnswerOutcome("refused", refused, gate.proposal, gate.flow_run_id, answer_id)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        event = store.event_by_key(incident_ref, f"answer:{answer_id}")
        if event is not None:
            verdict = event.kind.split(".", 1)[1]
            return AnswerOutcome(verdict, event.text, gate.proposal, gate.flow_run_id, answer_id)
        time.sleep(0.05)
    return AnswerOutcome(
        "unknown", "the flow did not record a judgement in time", gate.proposal, gate.flow_run_id, answer_id
    )
