"""How a flow run waits for one answer in Prefect: paused with a form, polled, the answer read and removed.

Prefect's ``pause_flow_run`` owns its wait loop, fails the run at its own timeout, and cannot notice a
run forced into another state or resumed without input. The gate needs all of that, so it proposes the
PAUSED state itself (no Prefect timeout: the gate's deadline lives in the ledger) and polls here, one
poll at a time, deciding between polls.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import State, StateType
from prefect.context import FlowRunContext
from prefect.exceptions import Abort
from prefect.input import RunInput, keyset_from_paused_state
from prefect.states import Paused, Running
from prefect.utilities.engine import propose_state_sync

from flows.paused_runs import read_paused_run
from flows.prefect_api import delete_input, prefect_api, read_input, write_input
from flows.slots import waiting_for_a_person


class PauseRefused(RuntimeError):
    """Prefect would not pause the run (it is no longer running: cancelled, failed, ...)."""


@dataclass(frozen=True)
class Poll:
    state: StateType | None
    state_name: str
    message: str
    answer: dict[str, Any] | None  # set when the run was resumed with an answer


@dataclass
class PrefectPause:
    flow_run_id: UUID
    key: str
    keyset: dict[str, str] | None = None

    def pause(self, form: type[RunInput], message: str) -> bool:
        """Pause with ``form``; True when this pause key was answered before (read it with ``poll``)."""
        state: State[Any] = Paused(timeout_seconds=None, reschedule=False, pause_key=self.key)
        state.message = message
        self.keyset = {str(k): v for k, v in keyset_from_paused_state(state).items()}
        state.state_details.run_input_keyset = self.keyset
        with prefect_api() as client:
            try:
                result = propose_state_sync(client, state, flow_run_id=self.flow_run_id)
            except Abort as exc:
                raise PauseRefused(str(exc)) from None
        if result.is_running():
            return True  # Prefect refuses a pause key that fired before: the run was resumed from it
        if not result.is_paused():
            raise PauseRefused(f"Prefect answered {result.type.value} ({result.message or 'no message'})")
        form.save(self.keyset)  # type: ignore[arg-type]
        return False

    def poll(self, interval: float) -> Poll:
        """The run's state at the next read (reads are ``interval`` apart, one for every gate of this
        process), and the answer when it has been resumed (removed from Prefect once read)."""
        assert self.keyset is not None
        run = read_paused_run(self.flow_run_id, interval)
        state = run.state if run is not None else None
        answer = None
        if state is not None and state.type is StateType.RUNNING:
            value = read_input(self.flow_run_id, self.keyset["response"])
            if value is not None:
                answer = value if isinstance(value, dict) else {"value": value}
                self.forget_answer()
        return Poll(
            state.type if state else None,
            state.name if state and state.name else "",
            state.message if state and state.message else "",
            answer,
        )

    def forget_answer(self) -> None:
        """Answers carry codes: once read, they are Warroom's alone."""
        assert self.keyset is not None
        delete_input(self.flow_run_id, self.keyset["response"])

    def release(self) -> None:
        """Leave PAUSED without an answer (the gate's own deadline passed): back to RUNNING."""
        with prefect_api() as client:
            client.set_flow_run_state(self.flow_run_id, Running(), force=True)

    def publish(self, key: str, value: dict[str, Any], *, background: bool = False) -> None:
        """Leave a value beside the run for `warroom approve` on a machine without the ledger. Nothing that
        proves anything: only what it needs to sign (checked against the ledger) and verdicts to show."""

        def write() -> None:
            try:
                write_input(self.flow_run_id, key, value)
            except Exception:
                if not background:
                    return  # best effort: the ledger holds the truth, this is a copy
                # The run may have ended, closing the client this thread borrowed: one more try on its own.
                with contextlib.suppress(Exception):
                    write_input(self.flow_run_id, key, value, own_client=True)

        if background:  # off the gate's path: the change it decided waits for nothing
            context = contextvars.copy_context()
            threading.Thread(target=context.run, args=(write,), daemon=True).start()
        else:
            write()


def prefect_events(flow_run_id: UUID, since: datetime, limit: int = 20) -> list[dict[str, str]]:
    """What Prefect's own event history shows of this run since ``since``: event names and times (the
    open-source server records no user). Best effort: events are written a moment after they happen."""
    body = {
        "filter": {
            "occurred": {"since": since.isoformat()},
            "resource": {"id": [f"prefect.flow-run.{flow_run_id}"]},
        },
        "limit": limit,
    }
    try:
        with prefect_api() as client:
            response = client.request("POST", "/events/filter", json=body)
            events = response.json().get("events") or []
    except Exception:
        return []
    return [{"event": str(e.get("event")), "occurred": str(e.get("occurred"))} for e in events]


class RunLeftPause(RuntimeError):
    """While waiting on its own form, the run was moved to another state (cancelled, crashed)."""


def ask_once(
    key: str, form: type[RunInput], message: str, wait_seconds: float, poll: float
) -> dict[str, Any]:
    """Pause the current flow run on ``form`` and wait for one answer (read, then deleted from Prefect):
    the answer, or ``{}`` when it was resumed without one or nobody answered within ``wait_seconds``
    (the pause is then released). PauseRefused when Prefect refuses the pause, RunLeftPause when the run
    is moved elsewhere meanwhile. For forms that ask a person for a code, never a run parameter."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        raise RuntimeError(f"the {key} form needs a flow run")
    pause = PrefectPause(ctx.flow_run.id, key)
    pause.pause(form, message)
    deadline = time.monotonic() + wait_seconds
    with waiting_for_a_person(pause.flow_run_id):  # a capped lane's slot is free meanwhile
        while time.monotonic() < deadline:
            polled = pause.poll(poll)
            if polled.answer is not None:
                return dict(polled.answer)
            if polled.state is StateType.RUNNING:
                return {}  # resumed without an answer (or one removed through the Prefect API)
            if polled.state is not StateType.PAUSED:
                raise RunLeftPause(polled.state_name or "gone from Prefect")
    pause.release()
    return {}
