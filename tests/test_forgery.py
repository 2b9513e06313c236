"""Approvals nobody can forge, tried as an attacker who reaches the Prefect API would: each attack against a
real Prefect server and a real gate, with nothing executed and the attempt on the timeline."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.answer import answer_gate
from flows.approval import GateRequest, _Gate
from tests.flow_helpers import (
    CAPACITY_RUNBOOK,
    FlowThread,
    code,
    enrolled,
    resume_as_the_ui,
    signer_of,
    wait_for_gate,
    wait_for_incident,
    write_runbook,
)
from tests.service import running_service
from tests.test_respond import env, kinds  # noqa: F401 - fixtures
from warroom.identity import Purpose, rotate_key
from warroom.incident import Severity
from warroom.ledger import RunLedger, Store
from warroom.runbook import ApprovalPolicy
from warroom.settings import get_settings
from warroom.signing import answer_message, make_key


def _policy(extra: str) -> None:
    """Rewrite the test runbook's approval policy; the next run reads it."""
    text = CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "60s").replace(" ESCALATE", "")
    write_runbook(
        Path(os.environ["WARROOM_RUNBOOKS_DIR"]), text.replace("four_eyes: true", f"four_eyes: true, {extra}")
    )


def _start(url: str, *, proven: bool = True, requested_by: str = "dave") -> tuple[FlowThread, str]:
    key = f"test:{uuid.uuid4().hex}"
    thread = FlowThread(
        runbook="svc-capacity",
        params={"service_url": url},
        requested_by=requested_by,
        dedup_key=key,
        proven=proven,
    )
    thread.start()
    return thread, key


def _signed(
    store: Store, gate_id: int, incident: str, approver: str, decision: str, **over: Any
) -> dict[str, Any]:
    enrolled(approver)
    gate = RunLedger(store).gate(gate_id)
    answer_id = uuid.uuid4().hex
    fields = {
        "gate": gate.id,
        "incident": incident,
        "proposal": gate.proposal,
        "plan_digest": gate.plan_digest,
        "decision": decision,
        "approver": approver,
        "reason": "signed here",
        "answer_id": answer_id,
        "adjustments": {},
    }
    fields.update(over)
    signature = signer_of(approver).sign(answer_message(**fields))  # type: ignore[arg-type]
    return {
        "decision": decision,
        "approver": approver,
        "code": "",
        "reason": "signed here",
        "answer_id": answer_id,
        "signature": signature,
    }


def _verdicts(store: Store, incident: str) -> list[tuple[str, str]]:
    return [(e.kind, e.actor) for e in store.timeline(incident) if e.kind.startswith("approval.") and e.key]


def test_n_of_m_counts_distinct_proven_people_through_the_gate(env: Store) -> None:
    _policy("required: 2")
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        first = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="one")
        assert first.verdict == "granted" and state.scale_calls == []
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        twice = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="me again")
        assert twice.verdict == "refused" and "already approved" in twice.text and state.scale_calls == []
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        second = answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="two")
        assert second.verdict == "granted"
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]
    [applied] = [e for e in env.timeline(incident.id) if e.kind == "approval.granted" and "bob" in e.text]
    assert applied.actor == "bob"


def test_a_signed_answer_altered_through_the_prefect_api_is_refused_and_nothing_runs(env: Store) -> None:
    """Finding 3: bob's reject rewritten to an approve (with a bigger adjustment) in Prefect's input store."""
    _policy("signed: true")
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        forged = _signed(env, gate.gate_id, incident.id, "bob", "reject")
        forged.update(decision="approve", replicas=40)
        assert resume_as_the_ui(gate.flow_run_id, forged) == "ACCEPT"  # Prefect takes it: the gate must not
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        ui = {"decision": "approve", "approver": "carol", "code": code("carol"), "reason": "from the UI"}
        assert resume_as_the_ui(gate.flow_run_id, ui) == "ACCEPT"
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        assert state.scale_calls == []
        rejected = answer_gate(env, incident.id, signer=signer_of("bob"), reason="no", decision="reject")
        assert rejected.verdict == "rejected", rejected.text
        thread.finish()
    assert state.scale_calls == []
    refusals = [e for e in env.timeline(incident.id) if e.kind == "approval.refused"]
    assert "signature is not bob's" in refusals[0].text and refusals[0].actor == "bob"
    assert "signed answers only" in refusals[1].text and refusals[1].actor == "carol"


def test_an_answer_signed_for_another_gate_or_plan_counts_nothing(env: Store) -> None:
    """Finding 4: an answer given while another proposal waited must not count for this one."""
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        for other in ({"gate": gate.gate_id + 1000}, {"plan_digest": "0" * 64}, {"proposal": "rollback"}):
            assert (
                resume_as_the_ui(
                    gate.flow_run_id, _signed(env, gate.gate_id, incident.id, "alice", "approve", **other)
                )
                == "ACCEPT"
            )
            gate = wait_for_gate(incident.id, after_pause=gate.pause)
        assert state.scale_calls == []
        counted = _signed(env, gate.gate_id, incident.id, "alice", "approve")
        assert resume_as_the_ui(gate.flow_run_id, counted) == "ACCEPT"
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]
    verdicts = _verdicts(env, incident.id)
    assert [v for v in verdicts if v[0] in ("approval.refused", "approval.granted")] == [
        ("approval.refused", "alice")
    ] * 3 + [("approval.granted", "alice")]


def test_a_starter_nobody_vouches_for_makes_a_four_eyes_gate_need_two_people(env: Store) -> None:
    """Finding 5: the run's starter named as someone else through the Prefect API (no start token)."""
    with running_service() as (url, state):
        thread, key = _start(url, proven=False, requested_by="erin")
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        [started] = [e for e in env.timeline(incident.id) if e.kind == "run.started"]
        assert "not proven" in started.text and started.data["starter_proven"] is False
        alone = answer_gate(env, incident.id, approver="dave", code=code("dave"), reason="I started it")
        assert alone.verdict == "granted" and state.scale_calls == []  # counted, but one is not enough
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        again = answer_gate(env, incident.id, approver="dave", code=code("dave"), reason="still me")
        assert again.verdict == "refused" and "2 different people" in again.text
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        other = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="a second pair")
        assert other.verdict == "granted"
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]


def test_a_vouched_starter_may_not_approve_their_own_run(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = _start(url, requested_by="dave")
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        own = answer_gate(env, incident.id, approver="dave", code=code("dave"), reason="mine")
        assert own.verdict == "refused" and "four-eyes" in own.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        assert (
            answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="ok").verdict
            == "granted"
        )
        thread.finish()
    assert state.scale_calls == [4]


def test_answers_are_recorded_as_typed_never_templated_and_leave_no_code_in_prefect(env: Store) -> None:
    """Finding 8 (templates) and 2 (answers kept in clear in Prefect's input store)."""
    from prefect.client.orchestration import get_client

    with running_service() as (url, _state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        outcome = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="{{ 7*7 }} ok")
        assert outcome.verdict == "granted"
        thread.finish()
        with get_client(sync_client=True) as client:
            left = client.filter_flow_run_input(
                flow_run_id=uuid.UUID(gate.flow_run_id),
                key_prefix="paused-gate-",
                limit=100,
                exclude_keys=set(),
            )
            blocks = client.read_block_documents(include_secrets=True)
    [granted] = [e for e in env.timeline(incident.id) if e.kind == "approval.granted"]
    assert granted.text.endswith("{{ 7*7 }} ok") and "49" not in granted.text
    assert not [i for i in left if i.key.endswith("-response")]  # the answer was deleted once judged
    assert all("approver" not in (b.name or "") for b in blocks)  # no approver secret in Prefect at all


def test_an_answer_judged_after_the_deadline_is_refused(store: Store) -> None:
    """Finding 6: the deadline is checked when an answer is judged, not only by the gate's clock."""
    from pydantic import BaseModel

    settings = get_settings()
    incident = store.open_incident(title="t", severity=Severity.P2)
    runs = RunLedger(store)
    attempt = runs.begin("run-late", incident.number, "rb").attempt
    gate, _ = runs.open_gate(
        attempt.id, incident.number, "scale_up", "d" * 64, escalate_after=None, timeout=timedelta(seconds=-1)
    )
    policy = ApprovalPolicy.model_validate({"approvers": [{"user": "alice"}], "four_eyes": False})

    class Params(BaseModel):
        replicas: int = 1

    req = GateRequest(
        store=store,
        runs=runs,
        attempt=attempt,
        incident=incident,
        proposal_id="scale_up",
        plan_digest="d" * 64,
        summary="",
        page=lambda g: "",
        policy=policy,
        params_model=Params,
        adjustable=[],
        excluded={},
        required=1,
        settings=settings,
        event_key="k",
    )
    judged = _Gate(req, gate, None).judge(
        {
            "decision": "approve",
            "approver": "alice",
            "code": code("alice"),
            "reason": "late",
            "answer_id": "late-1",
        }
    )
    assert judged is None and runs.gate(gate.id).granted == []
    [late] = [e for e in store.timeline(incident.id) if e.kind == "approval.refused"]
    assert "after the gate's deadline" in late.text


def test_a_severity_level_can_require_signed_answers_whatever_the_runbook(
    env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warroom.severity import DEFAULT_POLICY

    table = {
        level.value: {**policy.model_dump(mode="json"), "signed_approvals": True}
        for level, policy in DEFAULT_POLICY.items()
    }
    monkeypatch.setenv("WARROOM_SEVERITY", json.dumps(table))
    get_settings.cache_clear()
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        by_code = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="code")
        assert by_code.verdict == "refused" and "signed answers only" in by_code.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        signed = answer_gate(env, incident.id, signer=signer_of("alice"), reason="ok")
        assert signed.verdict == "granted", signed.text
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]


def _delete_the_answer_once_resumed(flow_run_id: str, response_key: str) -> None:
    """The attacker: the moment the run is resumed, delete its answer from Prefect's input store."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=30).json()["state"]["type"] == "RUNNING":
            gone = httpx.delete(f"{api}/flow_runs/{flow_run_id}/input/{response_key}", timeout=30)
            assert gone.status_code == 204, gone.text
            return
        time.sleep(0.01)
    raise AssertionError("the run was never resumed")


def _response_key(flow_run_id: str) -> str:
    from prefect.settings import PREFECT_API_URL

    run = httpx.get(f"{PREFECT_API_URL.value()}/flow_runs/{flow_run_id}", timeout=30).json()
    return str(run["state"]["state_details"]["run_input_keyset"]["response"])


def test_an_answer_removed_from_prefect_before_the_gate_read_it_is_recorded_not_lost(
    env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5: bob's signed reject deleted from the input store before the gate read it left only
    `approval.disturbed`: his answer was lost. The gate's poll is made long (5 s) so the delete wins."""
    monkeypatch.setenv("WARROOM_APPROVAL_POLL_SECONDS", "5")
    get_settings.cache_clear()
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        said: dict[str, Any] = {}

        def bob_rejects() -> None:
            said["outcome"] = answer_gate(
                env, incident.id, signer=signer_of("bob"), reason="the deploy is fine", decision="reject"
            )

        response_key = _response_key(gate.flow_run_id)
        answering = threading.Thread(target=bob_rejects, daemon=True)
        answering.start()
        _delete_the_answer_once_resumed(gate.flow_run_id, response_key)
        answering.join(60)
        outcome = said["outcome"]
        assert outcome.verdict == "removed" and "removed by the Prefect API" in outcome.text, outcome
        [removed] = [e for e in env.timeline(incident.id) if e.kind == "approval.removed"]
        assert removed.actor == "bob" and removed.data["answer"]["decision"] == "reject"
        assert removed.data["answer_id"] == outcome.answer_id and "prefect_events" in removed.data
        # An answer given in the UI and removed the same way: nobody recorded sending it, but the gate
        # still says the run was resumed with nothing to read, and what Prefect's history shows.
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        ui = {"decision": "approve", "approver": "carol", "code": code("carol"), "reason": "from the UI"}
        response_key = _response_key(gate.flow_run_id)
        assert resume_as_the_ui(gate.flow_run_id, ui) == "ACCEPT"
        _delete_the_answer_once_resumed(gate.flow_run_id, response_key)
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        [disturbed] = [e for e in env.timeline(incident.id) if e.kind == "approval.disturbed"]
        assert "no answer in Prefect's input store" in disturbed.text and "prefect_events" in disturbed.data
        assert state.scale_calls == []
        answer_gate(env, incident.id, signer=signer_of("bob"), reason="again", decision="reject")
        thread.finish()
    assert state.scale_calls == []


def test_an_acknowledgement_code_never_answers_a_gate(env: Store) -> None:
    """Finding 2: an acknowledgement code read from a waiting run answered a gate as that person."""
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        ack = code("alice", Purpose.ACKNOWLEDGE)  # valid now, for taking an incident
        outcome = answer_gate(env, incident.id, approver="alice", code=ack, reason="as alice")
        assert outcome.verdict == "refused" and "wrong one-time code for alice" in outcome.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="no", decision="reject")
        thread.finish()
    assert state.scale_calls == []


def test_an_answer_signed_with_a_replaced_key_is_refused_with_why_on_the_timeline(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = _start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        old = signer_of("bob")
        new = make_key(Path(get_settings().home).parent / "bob-new-laptop" / "key.pem", "bob")
        rotate_key(env, "bob", new.public_line())
        stale = answer_gate(env, incident.id, signer=old, reason="from my old laptop")
        assert stale.verdict == "refused" and f"key {old.fingerprint}, retired at" in stale.text
        [refused] = [e for e in env.timeline(incident.id) if e.kind == "approval.refused"]
        assert refused.actor == "bob" and f"replaced by key {new.fingerprint}" in refused.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        assert answer_gate(env, incident.id, signer=new, reason="new laptop").verdict == "granted"
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]
