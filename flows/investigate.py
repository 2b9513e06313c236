"""Investigate: the runbook's diagnostics in parallel, each result on the timeline and in the checkpoint."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prefect.futures import PrefectFuture

from flows.prefect_api import prefect_api
from flows.response import Response, RunOutcome, headline
from flows.run_steps import run_steps
from warroom.events import EventKind
from warroom.incident import Status
from warroom.redact import redact


def investigate(response: Response) -> RunOutcome | None:
    if response.reentered:
        return None  # the results this attempt found are in its checkpoint: evidence is not gathered twice
    response.advance(
        Status.INVESTIGATING, f"investigating: {len(response.runbook.diagnostics)} diagnostics in parallel"
    )
    troubled: list[tuple[PrefectFuture[Any], str]] = []
    for s in run_steps(response, [(d, d.id) for d in response.runbook.diagnostics]):
        d = s.call
        if s.skipped is not None:
            response.record(EventKind.DIAGNOSTIC_SKIPPED, f"{s.label}: skipped ({s.skipped})")
        elif s.result is None:
            once = f"diag:{s.label}" if s.future is not None else None
            response.record(
                EventKind.DIAGNOSTIC_FAILED,
                f"{s.label} ({d.use}) {s.error}",
                {"diagnostic": s.label, "step": d.use},
                once=once,
            )
        else:
            data = s.result.model_dump(mode="json")
            response.results[s.label] = data
            if s.result.trouble and s.future is not None:
                troubled.append((s.future, f"{s.label}: TROUBLE FOUND: {headline(s.result)}"))
            response.record(
                EventKind.DIAGNOSTIC_RESULT,
                f"{s.label} ({d.use}): {headline(s.result)}",
                {"diagnostic": s.label, "step": d.use, "trouble": s.result.trouble, "result": redact(data)},
                once=f"diag:{s.label}",
            )
    response.checkpoint()
    mark_trouble(troubled)
    response.publish()
    return None


def mark_trouble(troubled: list[tuple[PrefectFuture[Any], str]]) -> None:
    """A diagnostic that found the service unhealthy must not read as a plain green success.

    Cosmetic, so it never fails the run: Prefect writes task runs from events, a moment after they end,
    so a rename is tried again briefly while the task run is not there yet, then given up.
    """
    if not troubled:
        return
    with prefect_api() as client:
        for future, name in troubled:
            path = {"id": future.task_run_id}
            for delay in (0.2, 0.5, 1.0, 0.0):
                try:
                    client.request("PATCH", "/task_runs/{id}", path_params=path, json={"name": name[:200]})
                    break
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 404:
                        break
                except httpx.HTTPError:
                    break
                time.sleep(delay)
