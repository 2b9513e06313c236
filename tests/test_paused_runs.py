"""Gates held in one process read their runs' states together: one Prefect call per poll for all of them,
each gate still seeing its own run's state (and a run gone from Prefect seen as gone)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Paused, Running

from flows.paused_runs import _reads, read_paused_run


@flow(name="paused-runs-probe")
def probe() -> None:
    pass


@pytest.fixture
def paused(prefect_api: str) -> Iterator[list[UUID]]:
    """Eight flow runs on the test's Prefect server, each PAUSED as a gate leaves it."""
    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run(probe) for _ in range(8)]
        for run in runs:
            client.set_flow_run_state(run.id, Paused(timeout_seconds=None, reschedule=False), force=True)
        yield [run.id for run in runs]
        for run in runs:
            try:
                client.delete_flow_run(run.id)
            except Exception:  # deleted by the test itself
                pass


def _read_together(ids: list[UUID], interval: float) -> dict[UUID, object]:
    seen: dict[UUID, object] = {}
    start = threading.Barrier(len(ids))

    def one(run_id: UUID) -> None:
        start.wait()
        run = read_paused_run(run_id, interval)
        seen[run_id] = run.state.type.value if run is not None and run.state else None

    threads = [threading.Thread(target=one, args=(run_id,)) for run_id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return seen


def test_gates_waiting_together_share_one_read_and_each_sees_its_own_run(paused: list[UUID]) -> None:
    shared = _reads()
    _read_together(paused, 0.2)  # the first read after the call: a gate never takes a state older than it
    before = shared.started
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(paused[0], Running(), force=True)  # resumed
        client.delete_flow_run(paused[1])  # deleted through the API
    seen = _read_together(paused, 0.2)
    assert seen[paused[0]] == "RUNNING"
    assert seen[paused[1]] is None
    assert all(seen[run_id] == "PAUSED" for run_id in paused[2:])
    # eight gates asking at once: one read (two when one arrives as the first ends), not eight
    assert 1 <= shared.started - before <= 2


def test_each_poll_reads_anew_a_poll_interval_after_the_last(paused: list[UUID]) -> None:
    first = read_paused_run(paused[0], 0.2)
    assert first is not None and first.state is not None and first.state.type.value == "PAUSED"
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(paused[0], Running(), force=True)
    later = read_paused_run(paused[0], 0.2)
    assert later is not None and later.state is not None and later.state.type.value == "RUNNING"
