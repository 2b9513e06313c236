"""One respond run's state and its recording: the incident, the attempt, params, alert, results, proposals;
timeline events with idempotent keys, the timeline artifact, status changes, the run's name.

The phases (``flows/triage.py``, ``investigate.py``, ``mitigate.py``, ``verify.py``) are functions of a
``Response``; ``flows/respond.py`` runs them in sequence.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import datetime
from typing import Any, Literal

from prefect import get_run_logger
from prefect.context import FlowRunContext
from pydantic import BaseModel

from flows.prefect_api import prefect_api
from flows.timeline_artifact import TimelineArtifact
from warroom.events import EventKind
from warroom.incident import TRANSITIONS, Incident, Status
from warroom.ledger import Attempt, RunLedger, Store
from warroom.redact import redact_text
from warroom.render import timeline_markdown
from warroom.runbook import Runbook
from warroom.settings import Settings
from warroom.starts import Decided, Starter
from warroom.steps import StepResult

_GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+$")  # Prefect's own adjective-animal run names


class RunOutcome(BaseModel):
    """How a respond run ended: resolved, or handed back to the humans with why."""

    incident: str
    status: str
    outcome: Literal["resolved", "handed_back", "failed"]
    detail: str


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def headline(result: StepResult) -> str:
    if result.headline:
        return redact_text(result.headline)
    data = result.model_dump(mode="json")
    return redact_text(", ".join(f"{k}={data[k]}" for k in list(data)[:4]))


def record_lost(
    store: Store, flow_run_id: str, state: str, message: str, *, silent_since: datetime | None = None
) -> bool:
    """Mark this flow run's live attempt lost and say so on its incident; False when none was live (or,
    judged by its silence since ``silent_since``, it beat again since)."""
    runs = RunLedger(store)
    attempt = runs.live_attempt(flow_run_id)
    if attempt is None:
        return False
    why = f"Prefect state {state}" + (f": {message}" if message else "")
    return runs.write_off(attempt, why, {"prefect_state": state}, silent_since=silent_since)


class Response:
    """The state of one respond run, and how it records: every phase is a function of it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        runbook: Runbook,
        flow_run_id: str,
        starter: Starter,
    ):
        self.settings = settings
        self.store = store
        self.runs = RunLedger(store)
        self.runbook = runbook
        self.flow_run_id = flow_run_id
        self.run_key = flow_run_id  # until the attempt is known: then attempt.run_key
        self.starter = starter  # proven (the ledger holds a proof bound to this run), or only claimed
        self.logger = get_run_logger()
        self.incident: Incident
        self.attempt: Attempt
        self.reentered = False
        self.params: dict[str, Any] = {}
        self.alert: dict[str, Any] = {}
        self.decided: Decided | None = None  # what the receiver decided for an alert's run
        self.results: dict[str, Any] = {}
        self.proposals: dict[str, dict[str, Any]] = {}
        self.timeline = TimelineArtifact(self._timeline_now)
        self.run_name: str | None = None

    def begin(self) -> None:
        """Start this attempt: a re-entry carries on from its checkpoint, a retry starts anew."""
        begun = self.runs.begin(self.flow_run_id, self.incident.number, self.runbook.name)
        self.attempt = begun.attempt
        self.run_key = begun.attempt.run_key
        self.reentered = begun.reentered
        if begun.superseded is not None:
            self.store.append(
                self.incident.number,
                EventKind.RUN_LOST,
                f"attempt {begun.superseded.attempt} of this run ended without an outcome; "
                f"attempt {begun.attempt.attempt} starts afresh (new evidence, new proposals)",
                data={"flow_run_id": self.flow_run_id, "attempt": begun.superseded.attempt},
                key=f"{begun.superseded.run_key}:lost",
            )
        if begun.reentered:
            self.results = dict(self.attempt.checkpoint.get("results", {}))
            self.proposals = dict(self.attempt.checkpoint.get("proposals", {}))
            self.record(
                EventKind.RUN_REENTERED,
                f"the run's process was gone while a gate waited; carrying on at the gate "
                f"(attempt {self.attempt.attempt}, nothing done before is done again)",
                {"flow_run_id": self.flow_run_id},
                once=f"reentered:{uuid.uuid4().hex[:8]}",
            )

    def name_run(self, waiting_for: str | None = None) -> None:
        """Name the flow run after the incident (and what it waits for), unless a person named it."""
        ctx = FlowRunContext.get()
        if ctx is None or ctx.flow_run is None:
            return
        if self.run_name is None:
            current = ctx.flow_run.name or ""
            if not _GENERATED_NAME.match(current) and not current.startswith(f"{self.incident.id}: "):
                return  # typed in the UI when the run was started: theirs
            self.run_name = f"{self.incident.id}: {self.incident.title}"[:150]
        name = self.run_name + (f" (waiting for approval of {waiting_for})" if waiting_for else "")
        with prefect_api() as client:
            client.update_flow_run(ctx.flow_run.id, name=name)

    def checkpoint(self) -> None:
        self.runs.save_checkpoint(self.attempt.id, {"results": self.results, "proposals": self.proposals})

    # -- recording ---------------------------------------------------------------------------------------
    def record(
        self,
        kind: EventKind,
        text: str,
        data: dict[str, Any] | None = None,
        *,
        once: str | None = None,
        publish: bool = False,
    ) -> None:
        """Add a timeline event; the artifact is republished at phase boundaries, not for every event."""
        self.store.append(
            self.incident.number,
            kind,
            text,
            data=data,
            key=None if once is None else f"{self.run_key}:{once}",
        )
        if publish:
            self.publish()

    def publish(self) -> None:
        """The incident's timeline as one artifact (created once by this run, then updated in place), by a
        thread of the run: nothing on the run's path waits for it (flows/timeline_artifact.py)."""
        self.timeline.touch()

    def _timeline_now(self) -> tuple[str, str, str]:
        incident = self.store.get(self.incident.number)
        events = self.store.timeline(incident.number)
        description = f"{incident.id} timeline ({len(events)} events)"
        return f"inc-{incident.number}-timeline", timeline_markdown(incident, events), description

    def advance(self, status: Status, text: str | None = None) -> None:
        """Move to ``status`` when the state machine allows it from where the incident is now."""
        current = self.store.get(self.incident.number)
        if current.status is status or status not in TRANSITIONS[current.status]:
            self.incident = current
            return
        self.incident = self.store.set_status(
            current.number,
            status,
            text=text,
            key=f"{self.run_key}:status:{status.value}:{current.status.value}",
        )
        self.publish()

    def context(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "alert": self.alert,
            "incident": self.incident.model_dump(mode="json"),
            **self.results,
        }


class Heartbeat(threading.Thread):
    """Tells the ledger this flow run's process is alive, so the keeper knows when it is not. It beats from
    the process's start: a run re-entered at its gate may spend seconds on its start proof and incident
    before it begins its attempt, and a silent start there was taken for a death (a second attempt)."""

    def __init__(self, runs: RunLedger, flow_run_id: str, interval: float) -> None:
        super().__init__(name="warroom-run-heartbeat", daemon=True)
        self.runs, self.flow_run_id, self.interval = runs, flow_run_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.runs.heartbeat_flow_run(self.flow_run_id)
            except Exception:  # noqa: S110 - a busy ledger misses one beat; the keeper allows many
                pass
            if self.stopped.wait(self.interval):
                return

    def stop(self) -> None:
        self.stopped.set()
