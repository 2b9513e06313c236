"""The keeper: `warroom up` watching every live respond run, so none disappears without a word.

Each pass compares the ledger's live attempts with Prefect's flow runs:
- a run Prefect holds as finished (crashed, cancelled, failed, forced) that never recorded its end is
  written on the timeline as ``run.lost`` with Prefect's state and message;
- a run waiting at a gate whose process stopped beating (``kill -9``, a lost worker, a reboot) is scheduled
  again, whether Prefect shows it paused or it died before its pause was stored: its deployment's runner
  starts it, and it re-enters the same gate with the same deadline;
- a run that stopped beating anywhere else is lost: nothing it was doing is done again by itself.

A thread of its own tells the outside world what people decided to tell it: the incidents' rooms, the
status page's posts a vendor's page does not hold yet and its late updates, and the resolutions announced
to the leadership that had a summary.

With several receivers on one ledger, each runs a keeper and the one holding the ``keeper`` lease works;
another takes over when it dies.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Scheduled

from flows.communicate import keep_rooms
from flows.paging import escalate_due
from flows.response import record_lost
from flows.stakeholders import announce_resolutions
from flows.status_page import keep_status
from warroom.events import EventKind
from warroom.ledger import Attempt, AttemptState, RunLedger, Store, now
from warroom.ledger.leases import Lease
from warroom.redact import redact_text
from warroom.settings import Settings

log = logging.getLogger("warroom.keeper")

LEASE = "keeper"

_FINISHED = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


class Keeper(threading.Thread):
    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(name="warroom-keeper", daemon=True)
        self.store = store
        self.runs = RunLedger(store)
        self.stale = timedelta(seconds=settings.run_stale_seconds)
        self.starting = max(self.stale, timedelta(seconds=settings.run_start_seconds))
        self.poll = settings.keeper_poll_seconds
        self.settings = settings
        self.lease = Lease(store, LEASE, "keeper", max(settings.lease_seconds, 3 * self.poll))
        self._stopping = threading.Event()
        self._leading = threading.Event()  # set while this keeper holds the lease: its rooms are told
        self._rooms = threading.Thread(target=self._rooms_loop, name="warroom-rooms", daemon=True)

    def start(self) -> None:
        self._context = contextvars.copy_context()  # the Prefect API of whoever starts the keeper
        super().start()
        self._rooms.start()

    def run(self) -> None:
        self._context.run(self._loop)

    def stop(self) -> None:
        self._stopping.set()
        self.lease.release()

    def _loop(self) -> None:
        while not self._stopping.wait(self.poll):
            try:
                if not self.lease.leading():
                    self._leading.clear()
                    continue
            except Exception:  # the ledger unreachable: ask again next pass
                self._leading.clear()
                log.exception("keeper: cannot read its lease")
                continue
            self._leading.set()
            try:
                _say(escalate_due(self.settings, self.store))
            except Exception:  # the ledger unreachable: the pages are still due next pass
                log.exception("keeper: paging pass failed")
            try:
                _say(self.check())
            except Exception:  # Prefect or the ledger unreachable: the runs are still there next pass
                log.exception("keeper: pass failed")

    def _rooms_loop(self) -> None:
        # A thread of its own: Slack's rate limits make a pass wait out Retry-After (a storm of rooms waits
        # minutes for conversations.create), and that must never hold up the runs' keeping or the lease.
        while not self._stopping.wait(self.poll):
            if not self._leading.is_set():
                continue
            for name, keep in (
                ("chat", keep_rooms),
                ("status page", keep_status),
                ("stakeholders", announce_resolutions),
            ):
                try:
                    _say(keep(self.settings, self.store))
                except Exception:  # the ledger or a vendor unreachable: nothing is lost, told next pass
                    log.exception("keeper: %s pass failed", name)

    def check(self) -> list[str]:
        """One pass; returns what it did, one line per run acted on."""
        live = self.runs.live()
        if not live:
            return []
        ids = [UUID(a.flow_run_id) for a in live if _is_uuid(a.flow_run_id)]
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
        by_id = {str(r.id): r for r in found}
        return [done for a in live if (done := self._one(a, by_id.get(a.flow_run_id)))]

    def _one(self, attempt: Attempt, run: FlowRun | None) -> str | None:
        if run is None or run.state is None:
            return self._lose(attempt, "DELETED", "the flow run no longer exists in Prefect")
        state = run.state
        if state.type in _FINISHED:
            return self._lose(attempt, state.name or state.type.value, state.message or "")
        if now() - attempt.heartbeat_at < self.stale:
            return None
        if _starting(state.type, state.timestamp, attempt, self.starting):
            # A process started after the last beat (a run the keeper scheduled again) has to beat first;
            # on a loaded machine its start outlasts the stale window, and writing it off then made it a new
            # attempt that proposed its change a second time. One that beat since it became RUNNING is not
            # starting: silent, it is gone (held for the start window, a run killed at its gate before its
            # pause was stored waited two minutes to re-enter it).
            return None
        silent = f"no heartbeat for {int((now() - attempt.heartbeat_at).total_seconds())}s"
        if attempt.state is AttemptState.WAITING and _at_its_gate(state.type, state.timestamp, attempt):
            if run.deployment_id is None:
                return self._lose(attempt, "PAUSED", f"{silent}, and it has no deployment to start it again")
            return self._reenter(attempt, run)
        if state.type in (StateType.SCHEDULED, StateType.PENDING) and attempt.state is AttemptState.WAITING:
            return None  # scheduled again, waiting for its runner
        # Only if it is still as silent as when read: a re-entered run may have begun in between.
        return self._lose(
            attempt,
            state.name or state.type.value,
            f"{silent}: its process is gone",
            silent_since=attempt.heartbeat_at,
        )

    def _lose(
        self, attempt: Attempt, state: str, message: str, *, silent_since: datetime | None = None
    ) -> str | None:
        if record_lost(self.store, attempt.flow_run_id, state, message, silent_since=silent_since):
            return f"lost {attempt.flow_run_id}: {state} {message}".strip()
        return None

    def _reenter(self, attempt: Attempt, run: FlowRun) -> str:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Scheduled(name="Re-entering gate"), force=True)
        self.runs.heartbeat(attempt.id)  # the new process has until the next stale mark to take over
        self.store.append(
            attempt.incident_number,
            EventKind.RUN_RESTARTING,
            "the process waiting at the approval gate is gone; starting the run again at the same gate",
            data={"flow_run_id": attempt.flow_run_id, "attempt": attempt.attempt},
        )
        return f"re-entering {attempt.flow_run_id}"


def _say(lines: Iterable[str]) -> None:
    """One console line per act of the keeper, secrets masked as on the timeline."""
    for line in lines:
        log.info("keeper: %s", redact_text(line))


def _starting(state: StateType, since: datetime | None, attempt: Attempt, window: timedelta) -> bool:
    """Whether the run is RUNNING in a new process still within its start window: one that became RUNNING
    after the attempt's last beat, so it has not beaten yet."""
    if state is not StateType.RUNNING or since is None or since < attempt.heartbeat_at:
        return False
    return now() - since < window


def _at_its_gate(state: StateType, since: datetime | None, attempt: Attempt) -> bool:
    """Whether the silent process of a waiting attempt died at its gate, so the run may enter it again.

    Paused, or still RUNNING in the process that beat last: the gate recorded its request and then the
    process died before Prefect held the run as paused (its form is stored first; a loaded machine makes
    that a second or more). Nothing runs past a gate before the attempt stops waiting, so starting it again
    repeats nothing. A run that became RUNNING after the last beat is a new process that never beat: lost.
    """
    if state is StateType.PAUSED:
        return True
    return state is StateType.RUNNING and since is not None and since < attempt.heartbeat_at


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
