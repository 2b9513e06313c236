"""An answer sent the moment a run shows as paused, on a real Prefect server. Prefect deletes a pause's
inputs as the run pauses, so a gate stores its form just after; an answer sent in between is rejected by
Prefect with the run untouched. `warroom approve` then sends it again once the form is there, and never
records it as refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.input import RunInput, keyset_from_paused_state
from prefect.states import Paused

from flows.answer import answer_gate
from warroom.answers import GATE_INPUT
from warroom.ledger import pause_key


class Form(RunInput):
    decision: str
    approver: str
    code: str
    reason: str
    answer_id: str


@flow(name="answer-delivery-probe")
def probe() -> None:
    pass


@pytest.fixture
def paused_without_form(prefect_api: str) -> Iterator[tuple[UUID, dict[str, str]]]:
    """A run as a gate leaves it for an instant: PAUSED with its keyset, its copy for approvers beside it,
    tagged with its incident, and its form not stored yet."""
    key = pause_key(7, 1)
    state = Paused(timeout_seconds=None, reschedule=False, pause_key=key)
    keyset = {str(k): v for k, v in keyset_from_paused_state(state).items()}
    state.state_details.run_input_keyset = keyset  # type: ignore[assignment]
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(probe, tags=["incident:INC-41"])
        client.create_flow_run_input(
            run.id,
            GATE_INPUT.format(key=key),
            '{"gate": 7, "incident": "INC-41", "proposal": "scale_up", "plan_digest": "d"}',
        )
        client.set_flow_run_state(run.id, state, force=True)
        yield run.id, keyset
        client.delete_flow_run(run.id)


def test_an_answer_sent_before_the_gate_stored_its_form_is_delivered_once_it_is(
    prefect_api: str, paused_without_form: tuple[UUID, dict[str, str]]
) -> None:
    run_id, keyset = paused_without_form

    def gate_stores_its_form() -> None:
        time.sleep(1.0)  # the gate, a moment after its pause
        Form.save(keyset, flow_run_id=run_id)  # type: ignore[arg-type]

    storing = threading.Thread(target=gate_stores_its_form)
    storing.start()
    try:
        outcome = answer_gate(None, "INC-41", approver="peggy", code="123456", reason="ok", wait_seconds=0.5)
    finally:
        storing.join()
    # Delivered: no gate runs here to judge it, so its verdict is unknown; it was never refused.
    assert outcome.verdict == "unknown", outcome
    with httpx.Client(base_url=prefect_api, timeout=10) as http:
        assert http.get(f"/flow_runs/{run_id}").json()["state"]["type"] == "RUNNING"
        delivered = http.get(f"/flow_runs/{run_id}/input/{keyset['response']}").json()
    assert delivered["approver"] == "peggy" and delivered["answer_id"] == outcome.answer_id
