"""How many runs a warm lane works on at once, and the gate's way of giving its slot back while it waits.

A storm of P4s taken all at once puts hundreds of runs' requests in front of the Prefect server, and every
request of a P1 (on its own lane, but the same server) waits behind them: measured, a P1 behind 500 P4s
started 7 s after it was created. So the normal lane works on a few runs at a time
(``WARROOM_LANE_WORKING_RUNS``) and leaves the rest SCHEDULED, where another worker may take them. A run
waiting for a person does no work for minutes or hours: it gives its slot back while it waits, or a few held
gates would stop the lane. When its wait ends it works again at once, over the cap if it must: an answered
gate never queues behind new diagnostics.

While a run of the urgent lane starts (scheduled, pending, or in its first seconds of running) the normal
lane steps aside: it takes no new run, and the runs it works on wait at their next step boundary
(``step_aside``), for at most ``STEP_ASIDE_MOST`` seconds each time. Measured, the P1's pickup and start
queued behind the P4 runs' requests at the shared Prefect server.

Outside a capped warm lane (a process per run, `warroom run`, tests) nothing is installed: waiting is free
and nothing steps aside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

# A step boundary waits at most this long for an urgent run's start: the lane's view of the urgent queue is
# refreshed every poll, and a poll that stalls must not stall the P4s with it.
STEP_ASIDE_MOST = 5.0


class Slots:
    """The runs this process works on (taken, not waiting for a person), at most ``cap`` taken at once."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._working: set[UUID] = set()
        self._waiting: set[UUID] = set()
        self._clear = threading.Event()  # set: no urgent run is starting
        self._clear.set()

    def busy(self) -> bool:
        """Some run taken here works (not waiting for a person)."""
        with self._lock:
            return bool(self._working)

    def urgent_starting(self, starting: bool) -> None:
        """What the lane's last look at the urgent queue found."""
        if starting:
            self._clear.clear()
        else:
            self._clear.set()

    def yielding(self) -> bool:
        return not self._clear.is_set()

    def step_aside(self, most: float) -> None:
        """Wait while an urgent run starts, at most ``most`` seconds."""
        self._clear.wait(most)

    def free(self) -> int:
        with self._lock:
            return max(self.cap - len(self._working), 0)

    def take(self, flow_run_ids: Iterable[UUID]) -> None:
        with self._lock:
            self._working.update(flow_run_ids)

    def done(self, flow_run_id: UUID) -> None:
        """The run ended, or was never started here."""
        with self._lock:
            self._working.discard(flow_run_id)
            self._waiting.discard(flow_run_id)

    def wait(self, flow_run_id: UUID) -> bool:
        """The run waits for a person: its slot is free meanwhile. False when it held none here."""
        with self._lock:
            if flow_run_id not in self._working:
                return False
            self._working.discard(flow_run_id)
            self._waiting.add(flow_run_id)
            return True

    def resume(self, flow_run_id: UUID) -> None:
        """The wait is over: it works again, at once, even past the cap."""
        with self._lock:
            if flow_run_id in self._waiting:
                self._waiting.discard(flow_run_id)
                self._working.add(flow_run_id)


_installed: Slots | None = None


def install(cap: int) -> Slots:
    """This process's slots (a capped warm lane makes them once, before it takes a run)."""
    global _installed
    _installed = Slots(cap)
    return _installed


@contextmanager
def waiting_for_a_person(flow_run_id: UUID | str) -> Iterator[None]:
    """Around a wait for an answer: the run's slot is free until the wait ends."""
    slots = _installed
    run = UUID(str(flow_run_id))
    if slots is None or not slots.wait(run):
        yield
        return
    try:
        yield
    finally:
        slots.resume(run)


def step_aside(most: float = STEP_ASIDE_MOST) -> None:
    """At a step boundary of a run: in a capped lane while an urgent run starts, wait for it (at most
    ``most`` seconds). Elsewhere nothing."""
    if _installed is not None:
        _installed.step_aside(most)
