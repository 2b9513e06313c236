"""Gate rules no other test held: each of these fails when its rule is flipped in the code (escalating at the
deadline, an escalation that makes nobody eligible, a replayed answer judged afresh, a change reported as
not applied counted as made). Real Prefect server, real service, real approvers."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from tests.flow_helpers import (
    CAPACITY_RUNBOOK,
    code,
    resume_as_the_ui,
    signer_of,
    wait_for_gate,
    wait_for_incident,
    write_runbook,
)
from tests.patience import HANG
from tests.service import ServiceState, running_service
from tests.test_respond import env, kinds, start  # noqa: F401 - fixtures
from warroom.ledger import RunLedger, Store
from warroom.signing import answer_message


def _runbook(approval: str) -> None:
    text = CAPACITY_RUNBOOK.replace(
        "approval: {approvers: [{group: sre}], four_eyes: true, timeout: APPROVAL_TIMEOUT ESCALATE}",
        f"approval: {approval}",
    )
    write_runbook(Path(os.environ["WARROOM_RUNBOOKS_DIR"]), text)


def test_escalation_comes_after_escalate_after_and_makes_the_secondary_eligible(env: Store) -> None:
    """The policy names only the primary on call; bob (secondary, and in sre) may not approve until the
    gate escalates, which it does after escalate_after, long before its deadline."""
    from flows.answer import answer_gate

    # Long enough that bob's early answer is judged before it on a loaded machine (2 s was outrun), short
    # beside the deadline.
    _runbook("{approvers: [{oncall: primary}], timeout: 120s, escalate_after: 15s}")
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        early = answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="me first")
        assert early.verdict == "refused" and "not an authorized approver" in early.text
        deadline = time.monotonic() + HANG
        while "approval.escalated" not in kinds(env, incident.id):
            assert time.monotonic() < deadline, "the gate did not escalate"
            time.sleep(0.2)
        events = env.timeline(incident.id)
        [requested] = [e for e in events if e.kind == "approval.requested"]
        [escalated] = [e for e in events if e.kind == "approval.escalated"]
        assert escalated.data["notified"] == ["bob"]
        assert (
            15 <= (escalated.at - requested.at).total_seconds() < 120
        )  # escalated, long before the deadline
        wait_for_gate(incident.id, after_pause=gate.pause)
        late = answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="escalated to me")
        assert late.verdict == "granted", late.text
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]


def test_an_answer_resumed_twice_is_judged_once_and_the_replay_is_on_the_timeline(env: Store) -> None:
    _runbook("{approvers: [{group: sre}], required: 2, timeout: 60s}")
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        ledger_gate = RunLedger(env).gate(gate.gate_id)
        answer_id = uuid.uuid4().hex
        message = answer_message(
            gate=gate.gate_id,
            incident=incident.id,
            proposal=gate.proposal,
            plan_digest=ledger_gate.plan_digest,
            decision="approve",
            approver="alice",
            reason="once",
            answer_id=answer_id,
            adjustments={},
        )
        answer = {
            "decision": "approve",
            "approver": "alice",
            "code": "",
            "reason": "once",
            "answer_id": answer_id,
            "signature": signer_of("alice").sign(message),
        }
        assert resume_as_the_ui(gate.flow_run_id, answer) == "ACCEPT"
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        assert resume_as_the_ui(gate.flow_run_id, answer) == "ACCEPT"  # the same answer, replayed
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        replays = [
            e for e in env.timeline(incident.id) if e.key and e.key.startswith(f"answer:{answer_id}:again")
        ]
        assert len(replays) == 1 and replays[0].kind == "approval.refused"
        assert "judged before; an answer counts once" in replays[0].text
        assert RunLedger(env).gate(gate.gate_id).granted == ["alice"] and state.scale_calls == []
        from flows.answer import answer_gate

        assert answer_gate(env, incident.id, signer=signer_of("bob"), reason="two").verdict == "granted"
        assert thread.finish().outcome == "resolved"
    assert state.scale_calls == [4]


def test_a_change_the_step_reports_not_applied_is_recorded_failed_and_never_counted_as_made(
    env: Store,
) -> None:
    """The step returns (not raises) a ChangeResult with applied=False and no partial: nothing was made."""
    from flows.answer import answer_gate

    with running_service(ServiceState(decline_scale=True)) as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="erin", code=code("erin"), reason="try it")
        result = thread.finish()
    assert state.scale_calls == [4] and state.replicas == 2
    happened = kinds(env, incident.id)
    assert "mitigation.failed" in happened and "mitigation.applied" not in happened
    assert result.outcome == "handed_back" and env.get(incident.id).status.value != "resolved"
    [failed] = [e for e in env.timeline(incident.id) if e.kind == "mitigation.failed"]
    assert "declined to scale" in failed.text and "not retried" in failed.text
