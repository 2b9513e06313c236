"""Launching queued runbooks from the ledger, retried while Prefect is unreachable: no alert is dropped;
and triaging, by policy alone, the incidents no runbook matched (``flows/unmatched.py``).

Every receiver runs a launch loop, and one of them at a time launches: the one holding the ``launch-loop``
lease in the ledger. When it dies, another takes the lease over once it expires and launches what is left.
A launch cut short by the death (started in Prefect, not yet marked in the ledger) is launched again with
the same idempotency key, which Prefect answers with the run it already made.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any, Protocol

from warroom.events import EventKind
from warroom.incident import Severity
from warroom.ledger import Store, now
from warroom.ledger.approvals import ALERT_STARTER
from warroom.ledger.intake import Launch
from warroom.ledger.leases import Lease
from warroom.redact import redact_text
from warroom.starts import Decided, params_digest

log = logging.getLogger("warroom.intake")

LEASE = "launch-loop"


class Launcher(Protocol):
    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        """Start the runbook's deployment, tagged ``START_TAG`` (the loop vouches for it once it exists), in
        the lane ``level`` calls for; return the flow run id. Raises when it cannot."""
        ...


class LaunchLoop(threading.Thread):
    """Works through pending launches; a failed launch is retried with backoff, never forgotten."""

    def __init__(
        self,
        store: Store,
        launcher: Launcher,
        poll_seconds: float = 2.0,
        max_backoff: float = 60.0,
        parallel: int = 1,
        lease_seconds: float = 15.0,
        unmatched: Callable[[Store], int] | None = None,
        urgent: frozenset[Severity] = frozenset(),
        head_start_seconds: float = 2.0,
        warm: Callable[[], None] | None = None,
        warm_seconds: float = 10.0,
    ) -> None:
        super().__init__(name="warroom-launch-loop", daemon=True)
        self.store = store
        self.launcher = launcher
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.parallel = parallel
        self.lease = Lease(store, LEASE, "launcher", lease_seconds)
        self.unmatched = unmatched
        self.urgent = urgent
        self.head_start_seconds = head_start_seconds
        self._head_start_until = 0.0
        self.warm = warm
        self.warm_seconds = warm_seconds
        # Kept for the loop's life: a launcher may keep a connection per thread (deployments/launch.py).
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="warroom-launch")
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.lease.release()

    def start(self) -> None:
        # Run in the context of whoever starts the loop: it carries the settings (Prefect API) to use.
        self._context = contextvars.copy_context()
        super().start()

    def run(self) -> None:
        try:
            self._context.run(self._warm_threads)
            self._context.run(self._loop)
        finally:
            self._pool.shutdown(wait=False)

    def _warm_threads(self) -> None:
        """``warm`` once in each launch thread before the first drain (so before the lease is taken): what a
        cold thread costs (a launcher's imports, its client) is paid at start, not in a storm's first second.
        One that fails is logged and launching goes on cold; the first drain waits for it ``warm_seconds`` at
        most."""
        if self.warm is None:
            return
        warm = self.warm
        each_its_own = threading.Barrier(self.parallel)  # none returns before all have a thread

        def one(context: contextvars.Context) -> None:
            try:
                each_its_own.wait(self.warm_seconds)
            except threading.BrokenBarrierError:
                pass
            context.run(warm)

        started = [self._pool.submit(one, self._context.copy()) for _ in range(self.parallel)]
        done, _ = wait(started, timeout=self.warm_seconds)
        for future in done:
            if future.exception() is not None:
                log.warning("launch loop: warm-up failed (launching cold): %s", future.exception())

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # the ledger itself is unreachable: keep trying, the launches are in it
                log.exception("launch loop: cannot read the ledger")
            self._wake.wait(self.poll_seconds)

    def drain(self) -> int:
        """Launch everything due, most severe first, a few at a time (each launch is one round trip to
        Prefect); the lease is renewed before each few, and a loop that lost it stops launching.

        An ``urgent`` launch goes alone, and the less severe ones wait ``head_start_seconds`` after it:
        measured behind 500 P4s, a P1's creation, pickup and start each queued behind the P4 creates at
        the one Prefect server. A new urgent launch is never held."""
        launched = 0
        context = contextvars.copy_context()
        while not self._stopping.is_set() and self.lease.leading():
            rows = self.store.due_launches(limit=self.parallel)
            if not rows:
                break
            urgent = [row for row in rows if Severity(f"P{row.priority}") in self.urgent]
            held = self._head_start_until - time.monotonic()
            if not urgent and held > 0:
                self._wake.wait(held)  # an alert's arrival ends the wait: it may be urgent
                self._wake.clear()
                continue
            batch = urgent or rows
            launched += sum(self._pool.map(lambda row: context.copy().run(self._launch_one, row), batch))
            if urgent:
                self._head_start_until = time.monotonic() + self.head_start_seconds
        if self.unmatched is not None and not self._stopping.is_set() and self.lease.leading():
            try:
                self.unmatched(self.store)
            except Exception:  # still untriaged in the ledger: the next pass does it; launches go on
                log.exception("launch loop: triage of an incident no runbook matched failed")
        return launched

    def _launch_one(self, row: Launch) -> int:
        if self._stopping.is_set():
            return 0
        level = Severity(f"P{row.priority}")
        parameters: dict[str, Any] = {
            "runbook": row.runbook,
            "params": {},
            "alert": row.alert,
            "dedup_key": row.dedup_key,
            "requested_by": None,
            "decided": Decided(incident=row.incident_number, level=level).model_dump(mode="json"),
        }
        try:
            flow_run_id = self.launcher.launch(row.runbook, parameters, row.idempotency_key, level)
        except Exception as exc:
            delay = min(self.max_backoff, 2.0**row.attempts)
            error = redact_text(f"{type(exc).__name__}: {exc}")[:500]
            self.store.launch_failed(row.id, error, now() + timedelta(seconds=delay))
            self.store.append(
                row.incident_number,
                EventKind.RUNBOOK_LAUNCH_FAILED,
                f"could not launch respond/{row.runbook} (attempt {row.attempts + 1}): {error}; "
                f"retrying in {delay:.0f}s",
            )
            return 0
        # The receiver's word, bound to this run and exactly these parameters (the alert it stored): the
        # run waits for it (it is tagged so), and a run whose parameters are changed later loses it.
        self.store.vouch_start(
            flow_run_id,
            runbook=row.runbook,
            params_digest=params_digest(**parameters),
            starter=ALERT_STARTER,
            kind="receiver",
            payload_id=row.payload_id,
        )
        self.store.launch_done(
            row.id,
            flow_run_id,
            incident_number=row.incident_number,
            runbook=row.runbook,
            idempotency_key=row.idempotency_key,
        )
        return 1
