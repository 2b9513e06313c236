"""What became of every answer and of every run: verdicts where they were given, runs that leave the gate
any other way written on the timeline, re-fired alerts on a lost run launching a new attempt."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.input.actions import read_flow_run_input
from prefect.states import Failed, Running, State

from deployments.keeper import Keeper
from flows.answer import GateError, answer_gate
from flows.approval import GateLost
from tests.flow_helpers import code, resume_as_the_ui, wait_for_gate, wait_for_incident
from tests.service import running_service
from tests.test_respond import env, kinds, start  # noqa: F401 - fixtures
from warroom.incident import Severity
from warroom.intake.alert import Alert
from warroom.intake.router import Router
from warroom.ledger import Attempt, AttemptState, GateState, RunLedger, Store
from warroom.runbook import Catalogue, LoadedRunbook, parse_runbook
from warroom.settings import Settings


def _force(flow_run_id: str, state: object) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), state, force=True)  # type: ignore[arg-type]


def _description(flow_run_id: str, gate_id: int, pause: int) -> str:
    return str(
        read_flow_run_input(f"paused-gate-{gate_id}-{pause}-description", flow_run_id=UUID(flow_run_id))
    )


def test_a_refused_ui_answer_is_recorded_and_the_next_form_starts_with_it(env: Store) -> None:

    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        first = _description(gate.flow_run_id, gate.gate_id, gate.pause)
        assert "What will change" in first and "refused" not in first
        assert first.index("**Dry run**") < first.index("**Why**") < first.index("### Evidence in full")
        # The UI's Resume sends what the form holds: no answer id, and here a code one digit short.
        answer = {"decision": "approve", "approver": "alice", "code": "12345", "reason": "looks right"}
        assert resume_as_the_ui(gate.flow_run_id, answer) == "ACCEPT"
        again = wait_for_gate(incident.id, after_pause=gate.pause)
        page = _description(again.flow_run_id, again.gate_id, again.pause)
        assert page.startswith("> **Your last answer was refused**")
        assert "from alice" in page and "code: the 6 digits from your authenticator app" in page
        [refused] = [e for e in env.timeline(incident.id) if e.kind == "approval.refused"]
        assert refused.actor == "alice" and "code" not in refused.data["answer"]
        # The CLI's answer gets its own verdict, not the refusal above it on the timeline.
        granted = answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="scale")
        assert granted.verdict == "granted", granted.text
        thread.finish()
    assert state.scale_calls == [4]


def test_the_form_requires_a_decision_with_no_default(env: Store) -> None:
    with running_service() as (url, _state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        schema = read_flow_run_input(
            f"paused-gate-{gate.gate_id}-{gate.pause}-schema", UUID(gate.flow_run_id)
        )
        assert "decision" in schema["required"]
        assert "default" not in schema["properties"]["decision"]
        answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="no", decision="reject")
        thread.finish()


def test_a_run_set_running_without_an_answer_is_recorded_and_the_gate_waits_again(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        _force(gate.flow_run_id, Running())
        wait_for_gate(incident.id, after_pause=gate.pause)
        assert "approval.disturbed" in kinds(env, incident.id)
        assert state.scale_calls == []
        answer_gate(env, incident.id, approver="carol", code=code("carol"), reason="go")
        result = thread.finish()
    assert result.outcome == "resolved"
    assert state.scale_calls == [4]


def test_a_run_forced_to_failed_at_the_gate_is_lost_on_the_timeline_and_nothing_runs(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        _force(gate.flow_run_id, Failed(message="forced through the API"))
        thread.join(30)
        assert isinstance(thread.error, GateLost)
        [lost] = [e for e in env.timeline(incident.id) if e.kind == "run.lost"]
        assert "Failed" in lost.text and "forced through the API" in lost.text
        runs = RunLedger(env)
        assert runs.gate(gate.gate_id).state is GateState.LOST
        assert runs.latest_by_incident([incident.number])[incident.number].state is AttemptState.LOST
        with pytest.raises(GateError, match="no approval is waiting"):
            answer_gate(env, incident.id, approver="dave", code=code("dave"), reason="late")
    assert state.scale_calls == []


def test_begin_reenters_a_waiting_attempt_and_a_retry_is_a_new_attempt(store: Store) -> None:
    number = store.open_incident(title="t", severity=Severity.P3).number
    runs = RunLedger(store)
    first = runs.begin("run-1", number, "rb")
    assert first.attempt.attempt == 1 and not first.reentered and first.attempt.run_key == "run-1"
    gate, created = runs.open_gate(
        first.attempt.id, number, "p", "d", escalate_after=None, timeout=timedelta(1)
    )
    runs.set_waiting(first.attempt.id, True)
    again = runs.begin("run-1", number, "rb")  # the process died at the gate: the same attempt
    assert again.reentered and again.attempt.id == first.attempt.id
    same, created_again = runs.open_gate(
        first.attempt.id, number, "p", "d", escalate_after=None, timeout=timedelta(days=9)
    )
    assert created and not created_again and same.deadline == gate.deadline
    assert runs.close(gate.id, GateState.GRANTED) and not runs.close(gate.id, GateState.REJECTED)
    runs.set_waiting(first.attempt.id, False)
    retry = runs.begin("run-1", number, "rb")  # active with no outcome: it crashed; a retry starts anew
    assert retry.attempt.attempt == 2 and retry.attempt.run_key == "run-1#2"
    assert retry.superseded is not None and retry.superseded.state is AttemptState.LOST
    assert runs.finish(retry.attempt.id, "resolved") and not runs.lose(retry.attempt.id, "late")


def test_keeper_writes_off_a_cancelled_run_and_a_silent_one_it_cannot_restart(
    store: Store, prefect_api: str
) -> None:
    from prefect import flow
    from prefect.states import Cancelled, Paused

    @flow
    def somewhere() -> None:
        pass

    number = store.open_incident(title="t", severity=Severity.P3).number
    runs = RunLedger(store)
    with get_client(sync_client=True) as client:
        cancelled = client.create_flow_run(somewhere, state=Cancelled(message="cancelled in the UI"))
        paused = client.create_flow_run(somewhere, state=Paused())
    gone = runs.begin(str(cancelled.id), number, "rb").attempt
    silent = runs.begin(str(paused.id), number, "rb").attempt
    runs.set_waiting(silent.id, True)
    # A stale window no loaded machine outruns: the cancelled run is lost at once, the silent one not yet.
    done = Keeper(store, Settings(run_stale_seconds=600)).check()
    assert [d.split(":")[0] for d in done] == [f"lost {cancelled.id}"]  # at once, whatever its heartbeat
    time.sleep(1.2)
    keeper = Keeper(store, Settings(run_stale_seconds=1))
    done = keeper.check()
    assert len(done) == 1 and "no deployment to start it again" in done[0]
    assert runs.attempt(gone.id).state is AttemptState.LOST
    assert runs.attempt(silent.id).state is AttemptState.LOST
    lost = [e for e in store.timeline(number) if e.kind == "run.lost"]
    assert len(lost) == 2 and "cancelled in the UI" in lost[0].text
    assert keeper.check() == []  # each loss is written once


def _waiting_at_a_gate(
    store: Store, state: State[Any], deployed: bool = False
) -> tuple[RunLedger, UUID, int, Attempt]:
    """A throwaway flow run in ``state`` (of a deployment, when ``deployed``) whose incident's attempt waits
    at a gate."""
    from prefect import flow

    @flow
    def somewhere() -> None:
        pass

    number = store.open_incident(title="t", severity=Severity.P3).number
    runs = RunLedger(store)
    with get_client(sync_client=True) as client:
        if deployed:
            deployment = client.create_deployment(client.create_flow(somewhere), f"d-{number}")
            flow_run = client.create_flow_run_from_deployment(deployment, state=state)
        else:
            flow_run = client.create_flow_run(somewhere, state=state)
    attempt = runs.begin(str(flow_run.id), number, "rb").attempt
    runs.set_waiting(attempt.id, True)
    return runs, flow_run.id, number, attempt


def test_keeper_gives_a_restarted_run_its_stale_window_and_never_writes_off_one_that_beat_since_it_read(
    store: Store, prefect_api: str
) -> None:
    """The warm-worker kill -9 flake: a run the keeper scheduled again became RUNNING in a new process
    after its old heartbeat had gone stale, and the keeper wrote it off before (or just after, on the
    heartbeat it had read) the new process began."""
    from prefect.states import Scheduled

    runs, restarted, number, attempt = _waiting_at_a_gate(store, Scheduled(), deployed=True)
    time.sleep(1.2)  # the old process's heartbeat is past the 1 s stale mark
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(restarted, Running(), force=True)  # a new process starts it now
    keeper = Keeper(store, Settings(run_stale_seconds=1, run_start_seconds=1))
    assert keeper.check() == []  # RUNNING for less than the stale window: it has not had time to beat
    read = runs.live_attempt(str(restarted))
    assert read is not None
    runs.begin(str(restarted), number, "rb")  # the re-entered run begins: its heartbeat is fresh
    assert not runs.write_off(read, "silent", {}, silent_since=read.heartbeat_at)  # judged on an old read
    assert runs.attempt(attempt.id).state is AttemptState.WAITING
    time.sleep(2.4)  # it beat, then went silent at its gate before pausing: started again at the gate
    assert keeper.check() == [f"re-entering {restarted}"]
    assert runs.attempt(attempt.id).state is AttemptState.WAITING


def test_a_run_killed_at_its_gate_before_prefect_held_it_paused_is_started_again_at_the_gate(
    store: Store, prefect_api: str
) -> None:
    """The warm worker killed the moment its runs asked for approval: a gate records its request, then
    stores its form and pauses (a second on a loaded machine). A run killed in between is RUNNING in
    Prefect with its attempt waiting: started again, it re-enters the gate; written off, its incident
    waited for nothing. Its process beat after the run became RUNNING, so it is not starting: it re-enters
    after the stale window, not after a start window meant for new processes (in CI: 90 s late)."""
    runs, killed, number, attempt = _waiting_at_a_gate(store, Running(), deployed=True)
    time.sleep(1.2)  # its process, which beat after the run became RUNNING, is silent past the stale mark
    keeper = Keeper(store, Settings(run_stale_seconds=1, run_start_seconds=600))
    assert keeper.check() == [f"re-entering {killed}"]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(killed).state
    assert state is not None and state.name == "Re-entering gate"
    assert runs.attempt(attempt.id).state is AttemptState.WAITING
    assert [e.kind for e in store.timeline(number)].count("run.restarting") == 1


def test_a_restarted_run_slower_to_start_than_the_stale_window_is_given_its_start_window(
    store: Store, prefect_api: str
) -> None:
    """Two `mitigation.proposed` beside a second suite: the re-entering process took longer than the stale
    window from RUNNING to its first beat, was written off, and began a second attempt."""
    from prefect.states import Scheduled

    runs, restarted, _, attempt = _waiting_at_a_gate(store, Scheduled(), deployed=True)
    time.sleep(1.2)  # the old process's heartbeat is past the 1 s stale mark
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(restarted, Running(), force=True)  # a new process, slow to start
    keeper = Keeper(store, Settings(run_stale_seconds=1, run_start_seconds=3))
    time.sleep(1.5)  # past the stale window since it became RUNNING, within its start window
    assert keeper.check() == [] and runs.attempt(attempt.id).state is AttemptState.WAITING
    time.sleep(2)  # past its start window too, and still silent: gone, not started yet again
    [done] = keeper.check()
    assert done.startswith(f"lost {restarted}") and "its process is gone" in done
    assert runs.attempt(attempt.id).state is AttemptState.LOST


def test_a_refired_alert_on_an_incident_whose_run_is_lost_launches_a_new_attempt(store: Store) -> None:
    from pathlib import Path

    text = "name: svc\ndescription: d\nmatch: {alertname: Down}\ndiagnostics: []\n"
    catalogue = Catalogue({"svc": LoadedRunbook(parse_runbook(text), Path("svc.yaml"))}, [])
    router = Router(store, lambda: catalogue, Severity.P3)

    def fire() -> str:
        payload = store.save_payload("generic", b"{}", remote=None, content_type=None)
        alert = Alert.model_validate(
            {
                "labels": {"alertname": "Down"},
                "fingerprint": "f1",
                "payload_id": payload,
                "source": "generic",
                "status": "firing",
            }
        )
        [routed] = router.route([alert])
        return routed.action

    assert fire() == "opened"
    [launch] = store.launches()
    number = launch.incident_number
    runs = RunLedger(store)
    attempt = runs.begin("flow-run-1", number, "svc").attempt
    assert fire() == "attached"  # the run is alive: the alert is one more event
    runs.lose(attempt.id, "Prefect state Crashed")
    assert fire() == "relaunched"
    assert fire() == "attached"  # one new attempt per lost run, not one per re-fire
    assert len(store.launches()) == 2
    assert "runbook.relaunching" in [e.kind for e in store.timeline(number)]


def test_a_hand_started_incident_takes_the_runbooks_title_template() -> None:
    from flows.respond import _title
    from tests.conftest import REPO
    from warroom.runbook import load_catalogue

    rb = load_catalogue([REPO / "runbooks"]).runbooks["k8s-bad-deploy"].runbook
    params = {"namespace": "prod", "deployment": "web"}
    assert _title(rb, params, {}, True) == "Bad deploy on prod/web"
    alert = {"labels": {"alertname": "HighErrorRate"}}
    assert _title(rb, params, alert, True) == "HighErrorRate on prod/web"
    assert _title(rb, params, alert, False) == "k8s-bad-deploy: HighErrorRate"


def test_the_severity_policy_of_the_level_is_on_the_timeline_and_settings_override_it(
    env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from warroom.settings import get_settings

    override = {
        "meaning": "medium, as this team defines it",
        "update_every": 300,
        "notify": ["team", "pager"],
        "status_page": True,
        "postmortem": "required",
    }
    monkeypatch.setenv("WARROOM_SEVERITY", json.dumps({"P3": override}))
    get_settings.cache_clear()
    with running_service() as (url, _state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="erin", code=code("erin"), reason="no", decision="reject")
        thread.finish()
    [policy] = [e for e in env.timeline(incident.id) if e.kind == "severity.policy"]
    assert policy.text == (
        "P3 (medium, as this team defines it): stakeholder updates 5m to team, pager; status page yes; "
        "post-mortem required; no paging"
    )


def test_a_run_restarted_at_its_gate_is_alive_from_its_process_start_however_slow_its_start(
    store: Store, prefect_api: str
) -> None:
    """The kill -9 flake behind two `mitigation.proposed`: the re-entered run's new process was RUNNING
    but still proving its start and finding its incident after the keeper's stale window, beat nothing
    until it began its attempt, and was written off, so it began a second attempt that proposed again."""
    from flows.response import Heartbeat

    runs, restarted, number, attempt = _waiting_at_a_gate(store, Running())
    # A 2 s window for beats 0.2 s apart: on a loaded machine a 1 s window missed a beat now and then.
    keeper = Keeper(store, Settings(run_stale_seconds=2, run_start_seconds=2))
    beating = Heartbeat(runs, str(restarted), 0.2)  # what respond() starts before anything slow
    beating.start()
    try:
        for _ in range(6):  # three stale windows of a slow start: never taken for gone
            time.sleep(1.0)
            assert keeper.check() == []
        begun = runs.begin(str(restarted), number, "rb")
        assert begun.reentered and begun.attempt.id == attempt.id and begun.attempt.run_key == attempt.run_key
    finally:
        beating.stop()
    time.sleep(4.4)  # its process gone for good: silent for more than a window, it is lost
    [done] = keeper.check()
    assert "no heartbeat" in done and runs.attempt(attempt.id).state is AttemptState.LOST
