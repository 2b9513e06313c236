"""Two lanes through a work pool, so a P1 never queues behind P3/P4s: the launch of a P1 or P2 incident goes
to the pool's ``urgent`` work queue, everything else (and every run a person starts from the UI) to the
others.

On a ``warroom`` pool each lane is a warm worker process of its own (`warroom worker --lane urgent|normal`):
the urgent one shares no worker slot, no thread pool and no GIL with a storm of P4 runs. `warroom worker` and
`warroom up` start both lanes and start a lane again when its process dies (the keeper re-enters the gates
of the runs it held). On any other pool type (``process``, ``kubernetes``) Prefect's worker takes the queues
in priority order, and the urgent queue comes first.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Literal

from deployments.children import dying_with_parent
from deployments.template import ForkedChild, ProcessTemplate
from warroom.incident import Severity

log = logging.getLogger("warroom.lanes")

URGENT_QUEUE = "urgent"
URGENT_LEVELS = frozenset({Severity.P1, Severity.P2})
Lane = Literal["urgent", "normal"]
LANES: tuple[Lane, ...] = ("urgent", "normal")
# What a lane's process imports before it polls (deployments/template.py forks lanes from a process that has).
PRELOAD = ("cli.main", "deployments.distributed", "deployments.warm_worker:warm_up")


def lane_for(level: Severity) -> Lane:
    """The lane a launch at ``level`` takes."""
    return "urgent" if level in URGENT_LEVELS else "normal"


def queue_for(level: Severity) -> str | None:
    """The work queue a launch at ``level`` goes to; None for the deployment's own queue."""
    return URGENT_QUEUE if lane_for(level) == "urgent" else None


def ensure_lanes(pool: str) -> None:
    """Make the pool's urgent queue (priority 1, before every other queue) when it is missing."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_queue_by_name(URGENT_QUEUE, work_pool_name=pool)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_work_queue(
                name=URGENT_QUEUE,
                work_pool_name=pool,
                priority=1,
                description="P1 and P2 incidents: served by a worker of their own, never behind P3/P4s",
            )
        except ObjectAlreadyExists:  # another `warroom deploy` made it meanwhile
            pass


def lane_queues(pool: str, lane: Lane) -> list[str]:
    """The queues a lane's worker polls: the urgent queue alone, or every other queue of the pool."""
    if lane == "urgent":
        return [URGENT_QUEUE]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        queues = client.read_work_queues(work_pool_name=pool)
    return sorted(q.name for q in queues if q.name != URGENT_QUEUE) or ["default"]


class LaneWorkers(threading.Thread):
    """Both lanes of ``pool`` as `warroom worker --lane` processes, each started again when it dies: forked
    from ``template`` (warm at once, its environment theirs) when given, else each a new process."""

    def __init__(
        self,
        pool: str,
        *,
        limit: int | None = None,
        restart_seconds: float = 1.0,
        template: ProcessTemplate | None = None,
    ) -> None:
        super().__init__(name="warroom-lanes", daemon=True)
        self.pool = pool
        self.env = dict(os.environ)
        self.limit = limit
        self.restart_seconds = restart_seconds
        self.template = template
        self.procs: dict[Lane, subprocess.Popen[bytes] | ForkedChild] = {}
        self._stopping = threading.Event()
        self._ready = threading.Event()

    @property
    def worker_name(self) -> str:
        """The lanes' worker name in Prefect (each lane adds its own: ``-urgent``, ``-normal``)."""
        return f"{self.pool}-{socket.gethostname()}-{os.getpid()}"

    def command(self, lane: Lane) -> Sequence[str]:
        command = [
            sys.executable,
            "-m",
            "cli",
            "worker",
            "--pool",
            self.pool,
            "--lane",
            lane,
            "--name",
            self.worker_name,
        ]
        if self.limit is not None:
            command += ["--limit", str(self.limit)]
        return command

    def _spawn(self, lane: Lane) -> None:
        if self.template is not None:
            try:
                self.procs[lane] = self.template.spawn(self.command(lane), deathsig=signal.SIGKILL)
            except (RuntimeError, OSError) as exc:  # its template died meanwhile: tried again next round
                log.error("the %s lane could not be started: %s", lane, exc)
                self.procs.pop(lane, None)
            return
        # From this thread only: the parent-death signal follows the thread that forked the child.
        # SIGKILL: killed with -9, nothing of it is left to answer a gate the next start re-enters.
        self.procs[lane] = subprocess.Popen(
            self.command(lane), env=self.env, preexec_fn=dying_with_parent(signal.SIGKILL)
        )

    def run(self) -> None:
        for lane in LANES:
            self._spawn(lane)
        self._ready.set()
        while not self._stopping.wait(self.restart_seconds):
            dead = [lane for lane in LANES if lane not in self.procs or self.procs[lane].poll() is not None]
            # A Ctrl-C reaches the lanes (same process group) before the parent's stop: look again after a
            # pause, so a lane that died of the stop is not started again.
            if not dead or self._stopping.wait(self.restart_seconds):
                continue
            for lane in dead:
                if lane in self.procs:
                    code = self.procs[lane].returncode
                    log.warning("the %s lane's worker exited with %s; starting it again", lane, code)
                self._spawn(lane)
        self._stop_all()

    def start_and_wait(self) -> None:
        self.start()
        self._ready.wait(30)

    def wait_ready(self, timeout: float) -> bool:
        """Until both lanes have warmed up and told Prefect they poll (a run launched now starts at once)."""
        from prefect.client.orchestration import get_client

        wanted = {f"{self.worker_name}-{lane}" for lane in LANES}
        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                if wanted <= {w.name for w in client.read_workers_for_work_pool(self.pool)}:
                    return True
                if self._stopping.wait(0.2):
                    return False
        return False

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout + 5)

    def _stop_all(self, grace: float = 10.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
