"""The warm worker: a Prefect worker that runs each flow run of its pool in a thread of one long-lived
process, so a run starts in milliseconds instead of paying a Python process start (about 2 s of CPU each,
which 100 runs of a storm pay on the same cores as the Prefect server and the receiver).

It is Prefect's own worker machinery (polling, claiming a run with Pending so two workers never both run
it, heartbeats, limits); only the infrastructure differs. Its pools have the type ``warroom``
(`warroom deploy` makes them); a ``process`` pool runs under Prefect's process worker instead.

What a warm worker does not do: kill a run. A run cancelled while it executes stops at its next step's
state change; one paused at a gate stays a paused thread until answered or timed out. A worker that dies
takes its runs with it, and the keeper (`warroom receiver`, `warroom up`) finds them: a run waiting at a
gate is started again at the same gate, any other is recorded as lost.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import anyio
import anyio.abc
from prefect.client.schemas.objects import FlowRun
from prefect.workers.base import BaseJobConfiguration, BaseVariables, BaseWorker, BaseWorkerResult

from flows.slots import install

log = logging.getLogger("warroom.worker")

POOL_TYPE = "warroom"

# Prefect marks a queue's deployments "Not Ready" in its UI when nothing polled the queue for 60 s.
READY_POLL_SECONDS = 10.0

# The most runs Prefect's server gives one poll (its default limit, also its largest): a larger ask is a 422.
POLL_MOST = 200

# A lane that yields steps aside while an urgent run is scheduled, pending, or running for less than this
# (measured: its first task follows its start by 0.2-0.9 s) ...
URGENT_START_SECONDS = 2.0
# ... among the urgent runs expected to start within this window.
URGENT_WINDOW_SECONDS = 30.0


class WarmResult(BaseWorkerResult):
    """How one flow run ended in its thread: 0 when the engine finished it, 1 when it escaped the engine."""


def warm_up() -> None:
    """Import, before the first run arrives, what every run needs: the flows, every step module, and the
    chart library the post-mortem draws with (0.7 s the first time). A P1 that is the first run of a fresh
    worker would otherwise pay them between its alert and its first diagnostic."""
    import deployments.desk  # noqa: F401 - the desk's flows
    import flows.respond  # noqa: F401
    from warroom.reports.charts import plotting
    from warroom.steps import load_builtin_steps

    load_builtin_steps()
    plotting()
    _without_suspension_watchers()


@contextmanager
def _no_watcher(*_: Any, **__: Any) -> Iterator[None]:
    yield


def _without_suspension_watchers() -> None:
    """Warroom's gates pause inside the run and never suspend it, yet Prefect gives every deployment's run a
    watcher for suspension: a thread with its own event loop and a websocket subscription, waited for before
    the run starts and woken five times a second until it ends. In one warm process that is a hundred of
    each in a storm (a fifth of the worker's CPU) and one per gate held for hours. Without them a running
    warm run does not obey a suspension asked from outside, as it does not obey a cancellation (README)."""
    import prefect.flow_engine as engine

    if hasattr(engine, "observe_flow_run_suspension"):
        engine.observe_flow_run_suspension = _no_watcher


def infrastructure_of(flow_run_id: UUID) -> str:
    """What Prefect records as a run's infrastructure here: ``host:pid:run``, this process running it."""
    return f"{socket.gethostname()}:{os.getpid()}:{flow_run_id}"


def pid_of(infrastructure: str) -> int:
    """The process a warm run's recorded infrastructure names (what to kill to take its lane down)."""
    return int(infrastructure.rsplit(":", 2)[1])


# A deployment's module-path entrypoint, read once per process: a warm worker's flows are its own imports,
# so a run's start reads neither its flow run nor its deployment again (the engine reads the run itself).
_entrypoints: dict[UUID, str] = {}


def _flow_of(flow_run: FlowRun) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import load_flow
    from prefect.flows import load_flow_from_entrypoint

    if flow_run.deployment_id is None:
        return load_flow(flow_run)
    entrypoint = _entrypoints.get(flow_run.deployment_id)
    if entrypoint is None:
        with get_client(sync_client=True) as client:
            entrypoint = client.read_deployment(flow_run.deployment_id).entrypoint or ""
        if ":" in entrypoint or not entrypoint:  # a file's path: Prefect's own loading (storage, pull steps)
            return load_flow(flow_run)
        _entrypoints[flow_run.deployment_id] = entrypoint
    return load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)


def execute(flow_run: FlowRun) -> int:
    """Run one flow run to its end in this thread, as `python -m prefect.engine` would in a process."""
    from prefect.flow_engine import run_flow

    try:
        run_flow(_flow_of(flow_run), flow_run=flow_run, return_type="state")
    except BaseException:  # the engine records the run's own failures; this is what escaped it
        log.exception("flow run %s ended outside the engine", flow_run.id)
        return 1
    return 0


class WarmJobConfiguration(BaseJobConfiguration):
    """A thread's job: nothing to configure (no command, environment or image), so a run's submission reads
    neither its deployment nor its flow again, nor renders Prefect's settings into an environment; two
    requests and some CPU fewer per run, which a storm pays on a saturated Prefect server."""

    @classmethod
    async def resolve_for_flow_run(cls, flow_run: FlowRun, **_: Any) -> WarmJobConfiguration:
        return cls(name=flow_run.name)


class WarmWorker(BaseWorker[BaseJobConfiguration, BaseVariables, WarmResult]):
    type = POOL_TYPE
    job_configuration = WarmJobConfiguration
    job_configuration_variables = BaseVariables
    _description = "Runs Warroom's flow runs in threads of one long-lived process: no process start per run."

    def __init__(
        self, *args: Any, working_runs: int | None = None, yields_to: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # Runs paused at a gate hold their thread for hours: anyio's default of 40 threads is no limit to use.
        self._threads = anyio.CapacityLimiter(self._limit or 10_000)
        self._ready_poll_due = 0.0
        self._slots = install(working_runs) if working_runs else None
        self._yields_to = yields_to if self._slots is not None else None

    async def _get_scheduled_flow_runs(self) -> list[Any]:
        """Prefect's poll, made only when there is a run to take or the queues are due to be marked polled.

        Prefect's poll writes each polled queue and its deployments as polled (17 ms of its server's CPU on
        these machines); a lane polls twice a second so a P1 starts within half a second, and an idle
        `warroom up` spent a tenth of a core on it. In between, one read-only question (4 ms): is a run of
        these queues scheduled to start? Prefect's own poll still decides what is taken (priorities, limits,
        paused queues), so a run is taken exactly as before, one read later.

        A lane that yields to the urgent queue first looks whether an urgent run is starting, when it has
        runs working or is about to take some: if one is, it takes nothing and its runs step aside."""
        slots = self._slots
        if slots is None:
            if time.monotonic() < self._ready_poll_due and not await self._anything_scheduled():
                return []
            self._ready_poll_due = time.monotonic() + READY_POLL_SECONDS
            runs: list[Any] = await super()._get_scheduled_flow_runs()
            return runs
        free = slots.free()
        ready_due = time.monotonic() >= self._ready_poll_due
        take = ready_due or (free > 0 and await self._anything_scheduled())
        if self._yields_to is not None and (take or slots.busy()):
            slots.urgent_starting(await self._urgent_starting(self._yields_to))
        if not take or (slots.yielding() and not ready_due):
            return []
        self._ready_poll_due = time.monotonic() + READY_POLL_SECONDS
        # Full or yielding: a poll that marks the queues ready, no more. Prefect answers at most 200 a poll.
        return await self._scheduled(min(max(free, 1), POLL_MOST))

    async def _scheduled(self, limit: int) -> list[Any]:
        """Prefect's poll asking for ``limit`` runs, not the server's default 200: a capped lane with a storm
        waiting polls twice a second, and each run in the answer costs the server its reading and its JSON."""
        from httpx import HTTPStatusError
        from prefect.client.schemas.responses import WorkerFlowRunResponse

        before = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=int(self._prefetch_seconds))
        try:
            response = await self.client.request(
                "POST",
                "/work_pools/{name}/get_scheduled_flow_runs",
                path_params={"name": self._work_pool_name},
                json={
                    "work_queue_names": list(self._work_queues),
                    "scheduled_before": str(before),
                    "limit": limit,
                },
            )
        except HTTPStatusError as exc:
            if exc.response.status_code == 404:  # the pool is gone: Prefect's worker says so on its heartbeat
                return []
            raise
        return WorkerFlowRunResponse.model_validate_list(response.json())

    async def _submit_scheduled_flow_runs(self, flow_run_response: list[Any]) -> list[FlowRun]:
        """A capped lane takes only as many runs as it has free slots; the rest stay SCHEDULED for the next
        poll or another worker."""
        if self._slots is not None:
            fresh = [r for r in flow_run_response if r.flow_run.id not in self._submitting_flow_run_ids]
            flow_run_response = [] if self._slots.yielding() else fresh[: self._slots.free()]
            self._slots.take(r.flow_run.id for r in flow_run_response)
        submitted: list[FlowRun] = await super()._submit_scheduled_flow_runs(flow_run_response)
        return submitted

    def _release_limit_slot(self, flow_run_id: UUID) -> None:
        # Prefect's one call for a run that ended here or was not started after all.
        if self._slots is not None:
            self._slots.done(flow_run_id)
        super()._release_limit_slot(flow_run_id)

    async def _anything_scheduled(self) -> bool:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterNextScheduledStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        before = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=int(self._prefetch_seconds))
        due = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=before),
        )
        found = await self._read_runs(sorted(self._work_queues), due, limit=1)
        return found is None or bool(found)

    async def _urgent_starting(self, queue: str) -> bool:
        """Is a run of the urgent ``queue`` starting: scheduled, pending, or running for under
        ``URGENT_START_SECONDS``? Only runs expected in the last ``URGENT_WINDOW_SECONDS`` count: one left
        scheduled longer has no lane taking it, and stepping aside would not help it."""
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        now = datetime.datetime.now(datetime.UTC)
        starting = FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING])
            ),
            expected_start_time=FlowRunFilterExpectedStartTime(
                after_=now - datetime.timedelta(seconds=URGENT_WINDOW_SECONDS),
                before_=now + datetime.timedelta(seconds=int(self._prefetch_seconds)),
            ),
        )
        found = await self._read_runs([queue], starting, limit=20)
        if not found:  # none, or the question failed: a P4 storm never stops on a failed read
            return False
        recent = now - datetime.timedelta(seconds=URGENT_START_SECONDS)
        return any(
            run.state_type != StateType.RUNNING or run.start_time is None or run.start_time > recent
            for run in found
        )

    async def _read_runs(self, queues: list[str], runs: Any, *, limit: int) -> list[FlowRun] | None:
        """This pool's runs of ``queues`` (all its queues when empty) that the flow-run filter ``runs``
        takes; None when the read failed."""
        from prefect.client.schemas.filters import (
            WorkPoolFilter,
            WorkPoolFilterName,
            WorkQueueFilter,
            WorkQueueFilterName,
        )

        try:
            found: list[FlowRun] = await self.client.read_flow_runs(
                flow_run_filter=runs,
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self._work_pool_name])),
                work_queue_filter=WorkQueueFilter(name=WorkQueueFilterName(any_=queues)) if queues else None,
                limit=limit,
            )
        except Exception:  # the question failed: the caller decides what that means
            log.debug("a read-only question to Prefect failed", exc_info=True)
            return None
        return found

    async def run(
        self,
        flow_run: FlowRun,
        configuration: BaseJobConfiguration,
        task_status: anyio.abc.TaskStatus[Any] | None = None,
    ) -> WarmResult:
        identifier = infrastructure_of(flow_run.id)
        if task_status is not None:
            task_status.started(identifier)
        # A fresh context: the run must not inherit the worker's own (its client, its settings scope).
        fresh = contextvars.Context()
        code = await anyio.to_thread.run_sync(fresh.run, execute, flow_run, limiter=self._threads)
        return WarmResult(identifier=identifier, status_code=code)


async def run_warm_worker(
    pool: str,
    *,
    limit: int | None,
    name: str | None,
    queues: list[str] | None = None,
    working_runs: int | None = None,
    yields_to: str | None = None,
) -> None:
    """Poll ``pool`` (only ``queues`` of it, when given) and run its flow runs here until stopped, working
    on at most ``working_runs`` at once (flows/slots.py) when given, and stepping aside while a run of the
    queue ``yields_to`` starts."""
    worker = WarmWorker(
        work_pool_name=pool,
        work_queues=queues,
        limit=limit,
        name=name,
        create_pool_if_not_found=False,
        working_runs=working_runs,
        yields_to=yields_to,
    )
    await worker.start()
