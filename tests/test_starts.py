"""Who started a run, and runs that must not start: tried through Prefect's API as an attacker who holds the
operator's login would, against a real Prefect server."""

from __future__ import annotations

import time
import uuid

from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.states import Cancelled, Pending

from flows.respond import respond
from tests.flow_helpers import FlowThread, wait_for_incident
from tests.service import running_service
from tests.test_respond import env, kinds  # noqa: F401 - fixtures
from warroom.ledger import Store


def test_a_run_cancelled_while_pending_never_runs_its_body(env: Store) -> None:
    """Finding 1: set CANCELLED while PENDING, the run still ran to its gate when a worker started it.
    Prefect lets the engine set such a run RUNNING again; the flow body must not go on."""
    with running_service() as (url, state):
        key = f"test:{uuid.uuid4().hex}"
        parameters = {"runbook": "svc-capacity", "params": {"service_url": url}, "dedup_key": key}
        with get_client(sync_client=True) as client:
            flow_run = client.create_flow_run(respond, parameters=parameters, state=Pending())
            client.set_flow_run_state(flow_run.id, Cancelled(message="stop it"), force=True)
            flow_run = client.read_flow_run(flow_run.id)
        final = run_flow(
            respond, flow_run=flow_run, parameters=parameters, return_type="state"
        )  # as a worker
        assert final.is_cancelled() and "before it started" in (final.message or ""), final
        assert env.latest_for_key(key) is None  # no incident, no diagnostic, no gate
        assert state.health_arrivals == [] and state.scale_calls == []


def test_a_run_started_through_the_api_names_its_claimed_starter_as_unproven(env: Store) -> None:
    with running_service() as (url, _):
        key = f"test:{uuid.uuid4().hex}"
        thread = FlowThread(
            runbook="svc-capacity",
            params={"service_url": url},
            requested_by="carol",
            dedup_key=key,
            proven=False,
        )
        thread.start()
        incident = wait_for_incident(env, key)
        deadline = time.monotonic() + 60
        while "run.started" not in kinds(env, incident.id) and time.monotonic() < deadline:
            time.sleep(0.1)
        [started] = [e for e in env.timeline(incident.id) if e.kind == "run.started"]
        assert started.data["starter_proven"] is False and started.data["requested_by"] == "carol"
        assert "carol (not proven: started through the Prefect UI or API" in started.text
        with get_client(sync_client=True) as client:  # end the run: it would wait at its gate
            client.set_flow_run_state(uuid.UUID(started.data["flow_run_id"]), Cancelled(), force=True)
        thread.join(60)
