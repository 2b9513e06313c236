"""The state of every run a process holds at a gate, read for all of them in one Prefect call per poll.

A warm lane holds every gate of a storm in one process. Polled one run at a time, fifty gates are a hundred
reads a second against a Prefect server that also has to store their answers and run their changes; read
together, they are two. No thread of its own: whichever waiting gate finds a read due makes it, with its
own run's client, for every run waiting on the same Prefect API, and the others take their run from it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from uuid import UUID

from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from flows.prefect_api import prefect_api


@dataclass
class _Reads:
    """The shared reads of one Prefect API."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    waiting: dict[UUID, int] = field(default_factory=dict)  # run -> how many wait for its next read
    runs: dict[UUID, FlowRun | None] = field(default_factory=dict)  # as the last read found them
    started: int = 0  # reads begun
    done: int = 0  # reads finished
    failed: bool = False  # the last read failed: each waiter reads its own run
    reading: bool = False
    next_at: float = 0.0  # monotonic time the next read is due


PAGE = 100
_by_api: dict[str, _Reads] = {}
_by_api_lock = threading.Lock()


def _reads() -> _Reads:
    api = str(PREFECT_API_URL.value() or "")
    with _by_api_lock:
        return _by_api.setdefault(api, _Reads())


def read_paused_run(flow_run_id: UUID, interval: float) -> FlowRun | None:
    """The run as a read begun after this call found it (None: gone from Prefect). Reads are at least
    ``interval`` seconds apart, and each is one call for every run waiting on the same API."""
    shared = _reads()
    with shared.cond:
        shared.waiting[flow_run_id] = shared.waiting.get(flow_run_id, 0) + 1
        wanted = shared.started + 1  # a read begun after this call
        while True:
            if shared.done >= wanted:
                _leave(shared, flow_run_id)
                if shared.failed:
                    break  # the shared read failed: this run's own read, below, says why if it fails too
                return shared.runs.get(flow_run_id)
            due = shared.next_at - time.monotonic()
            if not shared.reading and due <= 0:
                shared.reading = True
                shared.started += 1
                number, ids = shared.started, list(shared.waiting)
                _leave(shared, flow_run_id)
                return _read_for_all(shared, number, ids, flow_run_id, interval)
            shared.cond.wait(timeout=1.0 if shared.reading else max(due, 0.01))
    return _read_one(flow_run_id)


def _read_for_all(
    shared: _Reads, number: int, ids: list[UUID], flow_run_id: UUID, interval: float
) -> FlowRun | None:
    """One read of ``ids`` for every waiter, made outside the lock; the others wait on the condition."""
    found: dict[UUID, FlowRun | None] | None = None
    try:
        read: dict[UUID, FlowRun | None] = dict.fromkeys(ids)
        with prefect_api() as client:
            for at in range(0, len(ids), PAGE):  # under the server's own cap on a page
                page = ids[at : at + PAGE]
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=len(page)
                )
                read.update({run.id: run for run in runs})
        found = read
    except Exception:  # noqa: S110 - each waiter then reads its own run, and its own error is raised
        pass
    finally:
        with shared.cond:
            shared.failed = found is None
            shared.runs = found or {}
            shared.done = number
            shared.reading = False
            shared.next_at = time.monotonic() + interval
            shared.cond.notify_all()
    return found[flow_run_id] if found is not None else _read_one(flow_run_id)


def _leave(shared: _Reads, flow_run_id: UUID) -> None:
    left = shared.waiting.get(flow_run_id, 0) - 1
    if left > 0:
        shared.waiting[flow_run_id] = left
    else:
        shared.waiting.pop(flow_run_id, None)


def _read_one(flow_run_id: UUID) -> FlowRun | None:
    try:
        with prefect_api() as client:
            return client.read_flow_run(flow_run_id)
    except ObjectNotFound:
        return None
