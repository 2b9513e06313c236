"""The respond flow: one runbook, from alert (or a human) to a resolved incident or a clear hand-back.

The phases run in sequence (``PHASES``): triage, investigate, then mitigate-and-verify; a phase that ends
the run returns its outcome. One finaliser records how the attempt ended, whatever happened. Tasks return
typed results; the phases decide and record. Every phase is on the timeline, and the timeline is
published as a Markdown artifact (``inc-N-timeline``) as it grows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.states import Cancelled

from flows.approval import GateLost
from flows.hand_off import open_action_items
from flows.investigate import investigate
from flows.mitigate import mitigate_and_verify
from flows.postmortem import draft_postmortem
from flows.response import Heartbeat, Response, RunOutcome, record_lost, short_error
from flows.slots import step_aside
from flows.starter import who_started, withdrawn_before_start
from flows.triage import triage
from warroom.events import EventKind
from warroom.expressions import ExpressionError, render_value
from warroom.ledger import Opened, RunLedger, Store
from warroom.redact import redact
from warroom.runbook import Runbook, catalogue_of, dedup_key_for, resolve_params
from warroom.settings import Settings, get_settings
from warroom.starts import Decided, params_digest

Phase = Callable[[Response], RunOutcome | None]
HandOff = Callable[[Response, RunOutcome], None]

# A new phase is one entry here and its own module. The first phase that returns an outcome ends the
# sequence; every hand-off then runs with that outcome (the run's follow-up, whatever the ending).
PHASES: list[Phase] = [triage, investigate, mitigate_and_verify]
HAND_OFFS: list[HandOff] = [open_action_items, draft_postmortem]


def _on_gone(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect's hook for a crashed or cancelled run: the timeline says so at once."""
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        record_lost(store, str(flow_run.id), state.name or state.type.value, state.message or "")
    finally:
        store.close()


@flow(
    name="respond",
    persist_result=False,
    log_prints=False,
    on_crashed=[_on_gone],
    on_cancellation=[_on_gone],
)
def respond(
    runbook: str,
    params: dict[str, Any] | None = None,
    alert: dict[str, Any] | None = None,
    requested_by: str | None = None,
    dedup_key: str | None = None,
    decided: Decided | None = None,
) -> RunOutcome | State[Any]:
    """Run a runbook: open or attach, triage, investigate, propose, approve, mitigate, verify, resolve.

    An alert's launch carries what the receiver ``decided`` (its incident, its level): the run attaches to
    that incident by number and classifies nothing again. A person's start decides both here."""
    ctx = FlowRunContext.get()
    flow_run = ctx.flow_run if ctx else None
    flow_run_id = str(flow_run.id) if flow_run else uuid.uuid4().hex
    if flow_run is not None:
        withdrawn = withdrawn_before_start(flow_run_id)
        if withdrawn is not None:
            # Whoever made it final before a worker started it meant it: nothing of the body runs.
            return Cancelled(message=f"not run: it was {withdrawn} before it started")
    settings = get_settings()
    catalogue = catalogue_of(settings.runbooks_dir)
    loaded = catalogue.runbooks.get(runbook)
    if loaded is None:
        problems = "; ".join(str(p) for p in catalogue.problems if runbook in p.file) or "not found"
        raise ValueError(f"runbook {runbook!r} cannot run: {problems}")
    rb = loaded.runbook
    store = Store.from_settings(settings)
    heartbeat = Heartbeat(RunLedger(store), flow_run_id, settings.run_heartbeat_seconds)
    heartbeat.start()
    try:
        tags = list(flow_run.tags) if flow_run else []
        return _start_and_run(
            store, settings, rb, flow_run_id, tags, params, alert, requested_by, dedup_key, decided
        )
    finally:
        heartbeat.stop()


def _start_and_run(
    store: Store,
    settings: Settings,
    rb: Runbook,
    flow_run_id: str,
    tags: list[str],
    params: dict[str, Any] | None,
    alert: dict[str, Any] | None,
    requested_by: str | None,
    dedup_key: str | None,
    decided: Decided | None,
) -> RunOutcome:
    """Who started it, its incident and attempt, then the phases; the attempt's ending recorded."""
    runbook = rb.name
    starter = who_started(
        store,
        settings,
        flow_run_id=flow_run_id,
        tags=tags,
        runbook=runbook,
        digest=params_digest(
            runbook=runbook,
            params=params,
            alert=alert,
            dedup_key=dedup_key,
            requested_by=requested_by,
            decided=decided.model_dump(mode="json") if decided else None,
        ),
        claimed=requested_by,
    )
    response = Response(settings, store, rb, flow_run_id, starter)
    response.alert = dict(alert or {})
    key = dedup_key or dedup_key_for(rb, response.alert, f"{rb.name}:run:{flow_run_id}")

    param_error: ValueError | None = None
    try:
        response.params = resolve_params(rb, params, response.alert)
    except ValueError as exc:
        param_error = exc
    if param_error is not None and not response.alert:
        # Started by a person with a wrong or missing value: say so and open nothing. An alert's run
        # opens its incident even so: the trouble it reports is real whatever the runbook's params.
        store.close()
        raise ValueError(f"runbook {rb.name} not started: {param_error}")
    opened = _decided_incident(store, decided, key) if decided else None
    opened = opened or store.open_or_attach(
        key,
        title=_title(rb, response.params, response.alert, param_error is None),
        severity=settings.default_severity,
        service=rb.service or _service_named(response.alert),
        runbook=rb.name,
        data={"runbook": rb.name, "flow_run_id": flow_run_id, "requested_by": requested_by},
    )
    response.incident = opened.incident
    response.decided = decided
    response.begin()
    try:
        outcome = _run_phases(response, params, opened.created, param_error)
    except GateLost:
        raise  # recorded as run.lost where it was noticed
    except BaseException as exc:
        error = short_error(exc)
        if response.runs.finish(response.attempt.id, f"failed: {error}"):
            response.record(EventKind.RUN_FAILED, f"the run failed: {error}", once="failed", publish=True)
        raise
    finally:
        response.timeline.flush()  # the artifact a run leaves shows its whole timeline
    response.runs.finish(response.attempt.id, f"{outcome.outcome}: {outcome.detail}")
    return outcome


def _decided_incident(store: Store, decided: Decided, key: str) -> Opened:
    """The incident the receiver opened for this alert, by number; refused if it is another alert's."""
    incident = store.get(decided.incident)
    if incident.dedup_key != key:
        store.close()
        raise ValueError(
            f"the launch names {incident.id}, which is not this alert's incident "
            f"(it groups {incident.dedup_key!r}, this alert {key!r}): nothing run"
        )
    return Opened(incident, created=False)


def _service_named(alert: dict[str, Any]) -> str | None:
    """The service an alert names (its ``service`` label, else ``app``) when the runbook names none."""
    labels = alert.get("labels") or {}
    named = labels.get("service") or labels.get("app")
    return str(named)[:200] if named else None


def _title(book: Runbook, params: dict[str, Any], alert: dict[str, Any], params_ok: bool) -> str:
    """The runbook's title template, for alerts and hand-started runs alike."""
    labels = alert.get("labels") or {}
    fallback = f"{book.name}: {labels.get('alertname') or 'started by hand'}"
    if not book.title or not params_ok:
        return fallback
    context = {"params": params, "alert": {"labels": {}, "annotations": {}, **alert}}
    try:
        return str(render_value(book.title, context))
    except ExpressionError:
        return fallback


def _run_phases(
    response: Response, params: dict[str, Any] | None, created: bool, param_error: ValueError | None
) -> RunOutcome:
    """The phases in order; the first that ends the run gives the outcome, else it is handed back."""
    starter = response.starter
    response.record(
        EventKind.RUN_STARTED,
        f"runbook {response.runbook.name} started by {starter.label()}"
        + ("; four-eyes gates need two approvers" if not starter.proven else "")
        + (f" (attempt {response.attempt.attempt})" if response.attempt.attempt > 1 else ""),
        {
            "flow_run_id": response.flow_run_id,
            "params": redact(params or {}),
            "created_incident": created,
            "requested_by": starter.name,
            "starter_proven": starter.proven,
            "starter_why": starter.why,
        },
        once="started",
    )
    response.name_run()
    if param_error is not None:
        response.record(EventKind.RUN_FAILED, f"invalid params: {param_error}", once="failed", publish=True)
        raise param_error
    outcome = _through_phases(response)
    for hand_off in HAND_OFFS:
        step_aside()
        hand_off(response, outcome)
    response.publish()
    return outcome


def _through_phases(response: Response) -> RunOutcome:
    for phase in PHASES:
        step_aside()  # a normal-lane run lets an urgent run start first (flows/slots.py)
        outcome = phase(response)
        if outcome is not None:
            return outcome
    response.record(
        EventKind.RUN_HANDED_BACK,
        "no further mitigation to propose; over to the humans",
        once="handback",
        publish=True,
    )
    incident = response.store.get(response.incident.number)
    return RunOutcome(
        incident=incident.id,
        status=incident.status.value,
        outcome="handed_back",
        detail="no mitigation resolved it",
    )
