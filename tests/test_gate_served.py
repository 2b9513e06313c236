"""A gate served by `warroom up` as people meet it: held past every Prefect lease and poll, the whole
`warroom up` killed with -9 under it, started again, approved from another terminal, applied once.

Prefect's and Warroom's timings are made short through their settings (tests/served.py), so minutes fit
in seconds.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.served import (
    LOGIN,
    Served,
    incident_of,
    kill_flow_run_processes,
    short_prefect_server,
    wait_for,
)
from tests.service import running_service
from warroom.ledger import RunLedger
from warroom.starts import START_INPUT, START_TAG

pytestmark = pytest.mark.long(500)


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    """A Prefect server of this test's own, with its leases and service loops made short."""
    with short_prefect_server(tmp_path) as api:
        yield api


def test_gate_held_past_leases_survives_kill_9_of_warroom_up_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    served = Served(prefect_server, tmp_path, timeout="10m")
    up = served.up()
    try:
        assert served.deployment()["concurrency_limit"] is None  # a limited run's lease crashes a paused run
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            fr = served.paused(flow_run_id)
            first_key = fr["state"]["state_details"]["pause_key"]
            assert "waiting for approval of scale_up" in fr["state"]["message"]
            assert fr["state"]["state_details"].get("deployment_concurrency_lease_id") is None
            incident = incident_of(fr)

            # Held past the lease (30 s), the service loops (1 s), a flow heartbeat (30 s) and the keeper's
            # stale mark (4 s) many times over: still paused, same pause, nothing executed.
            time.sleep(40)
            fr = served.flow_run(flow_run_id)
            assert fr["state"]["type"] == "PAUSED", fr["state"]
            assert fr["state"]["state_details"]["pause_key"] == first_key

            # kill -9: warroom up and the run's own process, as a machine that loses power.
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            kill_flow_run_processes(flow_run_id)  # in case it outlived its parent in a session of its own
            time.sleep(2)
            assert kill_flow_run_processes(flow_run_id, served.api) == 0  # nothing of the run is left alive
            assert served.flow_run(flow_run_id)["state"]["type"] == "PAUSED"
            assert state.scale_calls == []

            served.up()
            served.paused(flow_run_id, other_than=first_key)  # the gate is open again after the restart
            assert "granted" in served.approve(incident, "scale after the restart")
            served.resolved(incident)
            assert state.scale_calls == [4]  # applied once
        kinds = [e.kind for e in served.store.timeline(incident)]
        assert kinds.count("mitigation.proposed") == 1
        assert kinds.count("approval.requested") == 1
        assert kinds.count("mitigation.applied") == 1
        assert "run.restarting" in kinds and "approval.reentered" in kinds and "run.reentered" in kinds
        # and the console of the `warroom up` that recovered it says so
        assert f"keeper: re-entering {flow_run_id}" in served.log.read_text()
    finally:
        served.close()


def test_a_retried_run_records_fresh_evidence_and_approve_reports_its_own_verdict(
    prefect_server: str, tmp_path: Path
) -> None:
    """The UI's Retry of a run that crashed at its gate: a new attempt with its own diagnostics, proposal
    and gate; the old gate is closed; `warroom approve` answers the new one and prints its verdict."""
    served = Served(prefect_server, tmp_path, timeout="10m")
    # The run is marked crashed as its process dies; the keeper must not race that to re-enter the gate.
    served.env["WARROOM_RUN_STALE_SECONDS"] = "60"
    served.up()
    try:
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            fr = served.paused(flow_run_id)
            incident = incident_of(fr)
            assert kill_flow_run_processes(flow_run_id, served.api) == 1  # its lane dies; warroom up lives on
            # What a process-per-run worker records when its run's process dies (a warm lane dies with it).
            crashed = served.post(
                f"/flow_runs/{flow_run_id}/set_state",
                {"state": {"type": "CRASHED", "message": "its process died"}, "force": True},
            )
            assert crashed.status_code in (200, 201), crashed.text
            wait_for(
                "the run to be written off",
                lambda: "run.lost" in [e.kind for e in served.store.timeline(incident)],
                log=served.log,
            )
            # What the UI's Retry does: the run back to AwaitingRetry, for its runner to start again.
            retried = served.post(
                f"/flow_runs/{flow_run_id}/set_state",
                {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
            )
            assert retried.status_code in (200, 201), retried.text
            served.paused(flow_run_id, other_than=fr["state"]["state_details"]["pause_key"])
            assert "granted" in served.approve(incident, "retry looks right")
            served.resolved(incident)
            assert state.scale_calls == [4]
        events = served.store.timeline(incident)
        proposed = [e for e in events if e.kind == "mitigation.proposed"]
        diagnosed = [e for e in events if e.kind == "diagnostic.result"]
        assert len(proposed) == 2 and len(diagnosed) == 4  # the retry's own evidence, recorded anew
        assert [e.kind for e in events].count("approval.granted") == 1
    finally:
        served.close()


@pytest.mark.realtime
def test_gate_open_more_than_five_real_minutes_is_approved_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    """5.5 minutes of real time, past the 225 s at which a run renews a deployment concurrency lease,
    with Warroom's default heartbeat and keeper timings (`pytest -m realtime`)."""
    served = Served(prefect_server, tmp_path, timeout="30m", short=False)
    served.up()
    try:
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            incident = incident_of(served.paused(flow_run_id))
            opened = time.monotonic()
            time.sleep(330)
            assert served.flow_run(flow_run_id)["state"]["type"] == "PAUSED"
            assert "granted" in served.approve(incident, "after five minutes")
            served.resolved(incident)
            held = time.monotonic() - opened
            print(f"gate open {held:.0f} s of real time, then approved; scale calls {state.scale_calls}")
            assert state.scale_calls == [4]
    finally:
        served.close()


def test_a_run_patched_or_copied_through_the_api_has_no_proven_starter_and_one_approver_changes_nothing(
    prefect_server: str, tmp_path: Path
) -> None:
    """Finding 1, as an attacker with the operator's login and the REST API alone: while dave's signed run
    waits for a worker, PATCH its parameters (replicas=40), and make a run of their own with the same
    parameters and a copy of dave's signed start. Both starters are unknown, so four-eyes needs two
    people: alice's approval alone changes nothing."""
    served = Served(prefect_server, tmp_path, timeout="10m")
    up = served.up()
    deployment = served.deployment()
    # No worker for a while: the runs wait SCHEDULED, as they do for a busy worker. `warroom up` is held
    # still, not stopped (a second start would cost the suite another `warroom up`).
    os.killpg(up.pid, signal.SIGSTOP)
    try:
        with running_service() as (url, state):
            victim = served.start(url)
            api = served.api
            parameters = served.flow_run(victim)["parameters"]
            patched = {**parameters, "params": {"service_url": url, "replicas": 40}}
            response = httpx.patch(f"{api}/flow_runs/{victim}", json={"parameters": patched}, auth=LOGIN)
            assert response.status_code == 204, response.text  # Prefect takes it: the run must not
            proof = httpx.get(f"{api}/flow_runs/{victim}/input/{START_INPUT}", auth=LOGIN)
            assert proof.status_code == 200  # readable by every API user, and useless to them
            created = served.post(
                f"/deployments/{deployment['id']}/create_flow_run",
                {"parameters": patched, "tags": [START_TAG]},
            )
            assert created.status_code == 201, created.text
            made = created.json()
            copied = served.post(f"/flow_runs/{made['id']}/input", {"key": START_INPUT, "value": proof.text})
            assert copied.status_code == 201, copied.text
            os.killpg(up.pid, signal.SIGCONT)
            for run in (victim, made["id"]):
                fr = served.paused(run)
                incident = incident_of(fr)
                timeline = served.store.timeline(incident)
                [started] = [e for e in timeline if e.kind == "run.started"]
                assert started.data["starter_proven"] is False, started.text
                assert "did not verify" in started.data["starter_why"], started.data
                [requested] = [e for e in timeline if e.kind == "approval.requested"]
                assert requested.data["required"] == 2  # nobody can show alice did not start it
                assert "granted" in served.approve(incident, "looks fine")
                served.paused(run, other_than=fr["state"]["state_details"]["pause_key"])
                gate = RunLedger(served.store).gate(requested.data["gate"])
                assert gate.granted == ["alice"] and gate.state.value == "open"
            assert state.scale_calls == []  # one person passed no four-eyes gate
    finally:
        served.close()
