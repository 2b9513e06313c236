"""The respond flow: one runbook, from alert (or a human) to a resolved incident or a clear hand-back.

open/attach -> triage -> investigate -> propose -> approve -> mitigate -> verify -> resolve.
Tasks return result models; this flow decides and records. Every phase is a timeline event, and the
timeline is published as a Markdown artifact (``inc-N-timeline``) as it grows.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, wait
from pydantic import BaseModel, ValidationError

from flows.approval import GateLost, GateOutcome, GateRequest, approval_gate
from warroom.expressions import ExpressionError, evaluate_condition, render_value
from warroom.incident import TRANSITIONS, Incident, Role, Status
from warroom.proposal import Proposal, gate_page
from warroom.redact import redact, redact_text
from warroom.render import timeline_markdown
from warroom.runbook import Mitigation, Runbook, StepCall, dedup_key_for, load_catalogue, resolve_params
from warroom.runs import Attempt, Gate, RunLedger
from warroom.settings import Settings, get_settings
from warroom.severity import classify
from warroom.steps import ChangeResult, CheckResult, StepKind, StepResult, StepSpec, get_step
from warroom.store import Store, now


class Outcome(BaseModel):
    incident: str
    status: str
    outcome: str  # resolved | handed_back | failed
    detail: str


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class _Run:
    """The state of one respond run; each method is one phase."""

    def __init__(
        self, settings: Settings, store: Store, runbook: Runbook, flow_run_id: str, requested_by: str | None
    ):
        self.settings = settings
        self.store = store
        self.runs = RunLedger(store)
        self.rb = runbook
        self.flow_run_id = flow_run_id
        self.run_key = flow_run_id  # until the attempt is known: then attempt.run_key
        self.requested_by = requested_by
        self.logger = get_run_logger()
        self.incident: Incident
        self.attempt: Attempt
        self.reentered = False
        self.params: dict[str, Any] = {}
        self.alert: dict[str, Any] = {}
        self.results: dict[str, Any] = {}
        self.proposals: dict[str, dict[str, Any]] = {}
        self.artifact_id: UUID | None = None
        self.run_name: str | None = None

    def begin(self) -> None:
        """Start this attempt: a re-entry carries on from its checkpoint, a retry starts anew."""
        begun = self.runs.begin(self.flow_run_id, self.incident.number, self.rb.name)
        self.attempt = begun.attempt
        self.run_key = begun.attempt.run_key
        self.reentered = begun.reentered
        if begun.superseded is not None:
            self.store.append(
                self.incident.number,
                "run.lost",
                f"attempt {begun.superseded.attempt} of this run ended without an outcome; "
                f"attempt {begun.attempt.attempt} starts afresh (new evidence, new proposals)",
                data={"flow_run_id": self.flow_run_id, "attempt": begun.superseded.attempt},
                key=f"{begun.superseded.run_key}:lost",
            )
        if begun.reentered:
            self.results = dict(self.attempt.checkpoint.get("results", {}))
            self.proposals = dict(self.attempt.checkpoint.get("proposals", {}))
            self.record(
                "run.reentered",
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
        with get_client(sync_client=True) as client:
            client.update_flow_run(ctx.flow_run.id, name=name)

    def checkpoint(self) -> None:
        self.runs.save_checkpoint(self.attempt.id, {"results": self.results, "proposals": self.proposals})

    # -- recording ---------------------------------------------------------------------------------------
    def record(
        self,
        kind: str,
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
        """The incident's timeline as one artifact: created once by this run, then updated in place."""
        incident = self.store.get(self.incident.number)
        events = self.store.timeline(incident.number)
        markdown = timeline_markdown(incident, events)
        description = f"{incident.id} timeline ({len(events)} events)"
        if self.artifact_id is None:
            self.artifact_id = create_markdown_artifact(  # type: ignore[assignment]
                key=f"inc-{incident.number}-timeline", markdown=markdown, description=description
            )
            return
        with get_client(sync_client=True) as client:
            client.update_artifact(self.artifact_id, ArtifactUpdate(data=markdown, description=description))

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

    # -- phases ------------------------------------------------------------------------------------------
    def triage(self) -> None:
        triage = classify(
            self.rb.severity, {"alert": self.alert, "params": self.params}, self.settings.default_severity
        )
        if self.incident.severity is not triage.level:
            self.incident = self.store.set_severity(
                self.incident.number, triage.level, reason=triage.reason, key=f"{self.run_key}:severity"
            )
        else:
            self.record("triage", f"severity {triage.level.value}: {triage.reason}", once="triage")
        roles = self.incident.roles
        oncall = self.settings.oncall
        if roles.commander is None and oncall.get("primary"):
            self.incident = self.store.assign_role(self.incident.number, Role.COMMANDER, oncall["primary"][0])
        if roles.comms_lead is None and oncall.get("comms"):
            self.incident = self.store.assign_role(self.incident.number, Role.COMMS_LEAD, oncall["comms"][0])
        self.advance(Status.TRIAGED, f"triaged as {triage.level.value} by runbook {self.rb.name}")
        self.tag_run()

    def tag_run(self) -> None:
        ctx = FlowRunContext.get()
        if ctx is None or ctx.flow_run is None:
            return
        tags = {
            f"incident:{self.incident.id}",
            f"severity:{self.incident.severity.value}",
            f"runbook:{self.rb.name}",
        }
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(ctx.flow_run.id)
            keep = [t for t in current.tags if not t.startswith(("incident:", "severity:", "runbook:"))]
            client.update_flow_run(ctx.flow_run.id, tags=sorted({*keep, *tags}))

    def _submit(self, call: StepCall, label: str) -> tuple[StepSpec | None, PrefectFuture[Any] | str]:
        """Render and validate a step call and start it as a task; or say why it cannot start."""
        spec = get_step(call.use)
        if spec is None or spec.fn is None:
            return spec, f"{call.use} is not available in this build"
        try:
            params = spec.params.model_validate(render_value(call.with_, self.context()))
        except (ExpressionError, ValidationError) as exc:
            return spec, f"bad params: {redact_text(str(exc))}"
        options: dict[str, Any] = {"task_run_name": label}
        if call.timeout is not None:
            options["timeout_seconds"] = call.timeout.total_seconds()
        return spec, spec.fn.with_options(**options).submit(params)

    def investigate(self) -> None:
        if self.reentered:
            return  # the results this attempt found are in its checkpoint: evidence is not gathered twice
        self.advance(
            Status.INVESTIGATING, f"investigating: {len(self.rb.diagnostics)} diagnostics in parallel"
        )
        started: dict[str, PrefectFuture[Any]] = {}
        for d in self.rb.diagnostics:
            if d.when is not None:
                cond = evaluate_condition(d.when, self.context())
                if not cond.value:
                    self.record(
                        "diagnostic.skipped", f"{d.id}: skipped ({cond.error or d.when + ' is false'})"
                    )
                    continue
            _spec, future = self._submit(d, d.id)
            if isinstance(future, str):
                self.record("diagnostic.failed", f"{d.id} ({d.use}) could not run: {future}", {"step": d.use})
            else:
                started[d.id] = future
        wait(list(started.values()))
        troubled: list[tuple[PrefectFuture[Any], str]] = []
        for d_id, future in started.items():
            call = next(d for d in self.rb.diagnostics if d.id == d_id)
            result = future.result(raise_on_failure=False)
            if isinstance(result, StepResult):
                data = result.model_dump(mode="json")
                self.results[d_id] = data
                if result.trouble:
                    troubled.append((future, f"{d_id}: TROUBLE FOUND: {_headline(result)}"))
                self.record(
                    "diagnostic.result",
                    f"{d_id} ({call.use}): {_headline(result)}",
                    {"step": call.use, "result": redact(data)},
                    once=f"diag:{d_id}",
                )
            else:
                error = _short_error(result) if isinstance(result, BaseException) else repr(result)
                self.record(
                    "diagnostic.failed",
                    f"{d_id} ({call.use}) failed: {error}",
                    {"step": call.use},
                    once=f"diag:{d_id}",
                )
        self.checkpoint()
        self.mark_trouble(troubled)
        self.publish()

    def mark_trouble(self, troubled: list[tuple[PrefectFuture[Any], str]]) -> None:
        """A diagnostic that found the service unhealthy must not read as a plain green success."""
        with get_client(sync_client=True) as client:
            for future, name in troubled:
                client.request(
                    "PATCH",
                    "/task_runs/{id}",
                    path_params={"id": future.task_run_id},
                    json={"name": name[:200]},
                )

    def propose(self, m: Mitigation) -> Proposal | None:
        if self.reentered and m.id in self.proposals:
            return Proposal.model_validate(self.proposals[m.id])  # as shown at the gate, not made again
        spec = get_step(m.use)
        assert spec is not None and spec.kind is StepKind.MITIGATION  # guaranteed by validation
        if m.when is not None:
            cond = evaluate_condition(m.when, self.context())
            if not cond.value:
                why = cond.error or f"{m.when} is false"
                self.record(
                    "mitigation.not_proposed", f"{m.id}: not proposed ({why})", once=f"notprop:{m.id}"
                )
                return None
        try:
            params = spec.params.model_validate(render_value(m.with_, self.context()))
        except (ExpressionError, ValidationError) as exc:
            self.record("mitigation.not_proposed", f"{m.id}: bad params: {redact_text(str(exc))}")
            return None
        rendered = params.model_dump(mode="json")
        digest = hashlib.sha256(
            json.dumps({"use": m.use, "params": rendered}, sort_keys=True).encode()
        ).hexdigest()
        evidence = {k: v for k, v in self.results.items() if m.when and k in m.when}
        dry: dict[str, Any] | None = None
        way_back = "see the step's result"
        if spec.dry_run is not None:
            try:
                dry_result: ChangeResult = spec.dry_run(params)
                dry = dry_result.model_dump(mode="json")
                way_back = dry_result.way_back or way_back
            except Exception as exc:
                dry = {"error": _short_error(exc)}
        proposal = Proposal(
            id=m.id,
            use=m.use,
            params=rendered,
            summary=m.description or spec.summary,
            evidence=evidence,
            dry_run=dry,
            way_back=way_back,
            apply_key=f"mitigation:{m.id}:{digest[:16]}",
        )
        self.record(
            "mitigation.proposed",
            f"proposed {m.id} ({m.use}): {proposal.summary}",
            {**redact(proposal.model_dump(mode="json")), "plan_digest": proposal.plan_digest},
            once=f"proposed:{m.id}",
            publish=True,
        )
        self.proposals[m.id] = proposal.model_dump(mode="json")
        self.checkpoint()
        return proposal

    def approve(self, m: Mitigation, p: Proposal) -> GateOutcome:
        spec = get_step(m.use)
        assert spec is not None
        excluded: dict[str, str] = {}
        if self.requested_by:
            excluded[self.requested_by] = "started this run"
        who = ", ".join(
            f"user {a.user}" if a.user else f"group {a.group}" if a.group else f"on-call {a.oncall}"
            for a in m.approval.approvers
        )
        if m.approval.four_eyes:
            who += " (four-eyes: not whoever started this run)"

        def page(gate: Gate) -> str:
            return gate_page(
                incident=self.store.get(self.incident.number),
                proposal=p,
                alert=self.alert,
                who_may_approve=who,
                required=m.approval.required,
                granted=gate.granted,
                deadline=gate.deadline,
                last_refusal=gate.last_refusal,
                at=now(),
            )

        self.name_run(waiting_for=p.id)
        try:
            return self._gate(p, m, spec.params, excluded, page)
        finally:
            self.name_run()

    def _gate(
        self,
        p: Proposal,
        m: Mitigation,
        params_model: type[BaseModel],
        excluded: dict[str, str],
        page: Callable[[Gate], str],
    ) -> GateOutcome:
        return approval_gate(
            GateRequest(
                store=self.store,
                runs=self.runs,
                attempt=self.attempt,
                incident=self.incident,
                proposal_id=p.id,
                plan_digest=p.plan_digest,
                summary=p.summary,
                page=page,
                policy=m.approval,
                params_model=params_model,
                adjustable=m.adjustable,
                excluded=excluded,
                settings=self.settings,
                event_key=f"{self.run_key}:gate:{p.id}",
            )
        )

    def failed_here(self, p: Proposal) -> bool:
        """Did this attempt already execute this change and see it fail, or only partly succeed?"""
        return any(
            self.store.event_by_key(self.incident.number, f"{p.apply_key}:{outcome}:{self.run_key}")
            is not None
            for outcome in ("failed", "partial")
        )

    def already_attempted(self, m: Mitigation, p: Proposal) -> bool:
        """Has this exact change been executed on this incident before (by this or an earlier run)?

        Applied: not again. Started with no recorded outcome (the run crashed mid-change): not re-applied
        blindly either. Both go straight to verification, with no new approval asked.
        """
        keys = [e.key or "" for e in self.store.events_keyed(self.incident.number, f"{p.apply_key}:")]
        if f"{p.apply_key}:applied" in keys:
            self.record(
                "mitigation.skipped",
                f"{m.id} was already applied to this incident; not applying it again",
                once=f"skipped:{p.apply_key}",
            )
            return True
        started = {k.rsplit(":", 1)[1] for k in keys if k.startswith(f"{p.apply_key}:started:")}
        ended = {
            k.rsplit(":", 1)[1]
            for k in keys
            if k.startswith((f"{p.apply_key}:failed:", f"{p.apply_key}:partial:"))
        }
        # A recorded failure or partial change may be tried again after a new approval (never
        # automatically); a start with no recorded outcome means a run died mid-change.
        if started - ended:
            self.record(
                "mitigation.unknown",
                f"{m.id} was started before and its outcome was never recorded (a crash?): not re-applied; "
                "verifying instead",
                once=f"unknown:{p.apply_key}",
            )
            return True
        return False

    def mitigate(self, m: Mitigation, p: Proposal, gate: GateOutcome) -> bool:
        """Execute exactly the approved change, once. True when it was applied."""
        spec = get_step(m.use)
        assert spec is not None
        if spec.fn is None:
            self.record(
                "mitigation.failed", f"{m.id}: {m.use} is not available in this build; nothing executed"
            )
            return False
        try:
            params = spec.params.model_validate({**p.params, **gate.adjustments})
        except ValidationError as exc:
            self.record("mitigation.failed", f"{m.id}: adjusted params invalid: {redact_text(str(exc))}")
            return False
        self.advance(Status.MITIGATING, f"mitigating: {m.id} approved by {', '.join(gate.approvers)}")
        self.store.append(
            self.incident.number,
            "mitigation.started",
            f"executing {m.id} ({m.use}) as approved by {', '.join(gate.approvers)}",
            data={"params": redact(params.model_dump(mode="json")), "approvers": gate.approvers},
            key=f"{p.apply_key}:started:{self.run_key}",
        )
        self.publish()
        options: dict[str, Any] = {"task_run_name": m.id, "retries": 0}
        if m.timeout is not None:
            options["timeout_seconds"] = m.timeout.total_seconds()
        result = spec.fn.with_options(**options).submit(params).result(raise_on_failure=False)
        if isinstance(result, ChangeResult) and result.made:
            self.store.append(
                self.incident.number,
                "mitigation.applied",
                f"{m.id} applied: {_headline(result)}",
                data={"result": redact(result.model_dump(mode="json"))},
                key=f"{p.apply_key}:applied",
            )
            self.publish()
            return True
        # Not made, or made only in part: recorded, never retried; a human decides what happens next (a
        # new approval may try it again).
        if isinstance(result, ChangeResult) and result.partial:
            kind, outcome, text = "mitigation.partial", "partial", f"{m.id} made only in part"
        else:
            kind, outcome, text = "mitigation.failed", "failed", f"{m.id} failed"
        if isinstance(result, ChangeResult):
            error = _headline(result) + (f" ({result.error})" if result.error else "")
            data: dict[str, Any] = {"error": error, "result": redact(result.model_dump(mode="json"))}
        else:
            error = _short_error(result) if isinstance(result, BaseException) else repr(result)
            data = {"error": error}
        self.store.append(
            self.incident.number,
            kind,
            f"{text}: {error}; not retried",
            data=data,
            key=f"{p.apply_key}:{outcome}:{self.run_key}",
        )
        self.advance(Status.INVESTIGATING, f"back to investigating: {text}")
        return False

    def verify(self) -> bool:
        if not self.rb.verify:
            self.record("verification.skipped", "no verify steps: a human confirms recovery")
            return False
        self.advance(Status.MONITORING, "monitoring: verifying recovery")
        started: list[tuple[StepCall, PrefectFuture[Any] | str]] = []
        for i, v in enumerate(self.rb.verify):
            if v.when is not None:
                cond = evaluate_condition(v.when, self.context())
                if not cond.value:
                    label = v.id or f"verify[{i}]"
                    self.record(
                        "verification.skipped", f"{label}: skipped ({cond.error or v.when + ' is false'})"
                    )
                    continue
            _spec, future = self._submit(v, v.id or f"verify-{i + 1}")
            started.append((v, future))
        wait([f for _, f in started if not isinstance(f, str)])
        ok = True
        for i, (v, future) in enumerate(started):
            label = v.id or f"verify[{i}]"
            if isinstance(future, str):
                ok = False
                self.record("verification.failed", f"{label} ({v.use}) could not run: {future}")
                continue
            result = future.result(raise_on_failure=False)
            if not isinstance(result, StepResult):
                ok = False
                error = _short_error(result) if isinstance(result, BaseException) else repr(result)
                self.record("verification.failed", f"{label} ({v.use}) failed: {error}")
                continue
            data = result.model_dump(mode="json")
            if v.expect is not None:
                cond = evaluate_condition(v.expect, {**self.context(), "result": data})
                passed, why = cond.value, cond.error or (v.expect if cond.value else f"not ({v.expect})")
            elif isinstance(result, CheckResult):
                passed, why = result.ok, result.reason
            else:  # refused by `runbooks validate`; kept for runbooks loaded around it
                passed, why = False, f"{v.use} has no ok/reason: give this verify step an expect:"
            ok = ok and passed
            self.record(
                "verification.passed" if passed else "verification.failed",
                f"{label} ({v.use}): {why}",
                {"result": redact(data)},
            )
        return ok


def _headline(result: StepResult) -> str:
    if result.headline:
        return redact_text(result.headline)
    data = result.model_dump(mode="json")
    return redact_text(", ".join(f"{k}={data[k]}" for k in list(data)[:4]))


def _on_gone(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect's hook for a crashed or cancelled run: the timeline says so at once."""
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        record_lost(store, str(flow_run.id), state.name or state.type.value, state.message or "")
    finally:
        store.close()


def record_lost(store: Store, flow_run_id: str, state: str, message: str) -> bool:
    """Mark this flow run's live attempt lost and say so on its incident; False when none was live."""
    runs = RunLedger(store)
    for attempt in runs.live():
        if attempt.flow_run_id != flow_run_id:
            continue
        why = f"Prefect state {state}" + (f": {message}" if message else "")
        if runs.lose(attempt.id, why):
            store.append(
                attempt.incident_number,
                "run.lost",
                f"the respond run is gone ({why}); any open gate is closed and nothing more is executed",
                data={"flow_run_id": flow_run_id, "attempt": attempt.attempt, "prefect_state": state},
                key=f"{attempt.run_key}:lost",
            )
            return True
    return False


_GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+$")  # Prefect's own adjective-animal run names


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
) -> Outcome:
    """Run a runbook: open or attach, triage, investigate, propose, approve, mitigate, verify, resolve."""
    settings = get_settings()
    catalogue = load_catalogue([settings.runbooks_dir])
    loaded = catalogue.runbooks.get(runbook)
    if loaded is None:
        problems = "; ".join(str(p) for p in catalogue.problems if runbook in p.file) or "not found"
        raise ValueError(f"runbook {runbook!r} cannot run: {problems}")
    rb = loaded.runbook
    ctx = FlowRunContext.get()
    flow_run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else uuid.uuid4().hex
    store = Store.from_settings(settings)
    run = _Run(settings, store, rb, flow_run_id, requested_by)
    run.alert = dict(alert or {})
    key = dedup_key or dedup_key_for(rb, run.alert, f"{rb.name}:run:{flow_run_id}")

    param_error: ValueError | None = None
    try:
        run.params = resolve_params(rb, params, run.alert)
    except ValueError as exc:
        param_error = exc
    opened = store.open_or_attach(
        key,
        title=_title(rb, run.params, run.alert, param_error is None),
        severity=settings.default_severity,
        service=rb.service,
        runbook=rb.name,
        data={"runbook": rb.name, "flow_run_id": flow_run_id, "requested_by": requested_by},
    )
    run.incident = opened.incident
    run.begin()
    heartbeat = _Heartbeat(run.runs, run.attempt.id, settings.run_heartbeat_seconds)
    heartbeat.start()
    try:
        outcome = _respond(run, params, opened.created, param_error)
    except GateLost:
        raise  # recorded as run.lost where it was noticed
    except BaseException as exc:
        error = _short_error(exc)
        if run.runs.finish(run.attempt.id, f"failed: {error}"):
            run.record("run.failed", f"the run failed: {error}", once="failed", publish=True)
        raise
    finally:
        heartbeat.stop()
    run.runs.finish(run.attempt.id, f"{outcome.outcome}: {outcome.detail}")
    return outcome


def _title(rb: Runbook, params: dict[str, Any], alert: dict[str, Any], params_ok: bool) -> str:
    """The runbook's title template, for alerts and hand-started runs alike."""
    labels = alert.get("labels") or {}
    fallback = f"{rb.name}: {labels.get('alertname') or 'started by hand'}"
    if not rb.title or not params_ok:
        return fallback
    context = {"params": params, "alert": {"labels": {}, "annotations": {}, **alert}}
    try:
        return str(render_value(rb.title, context))
    except ExpressionError:
        return fallback


class _Heartbeat(threading.Thread):
    """Tells the ledger this attempt's process is alive, so the keeper knows when it is not."""

    def __init__(self, runs: RunLedger, attempt_id: int, interval: float) -> None:
        super().__init__(name="warroom-run-heartbeat", daemon=True)
        self.runs, self.attempt_id, self.interval = runs, attempt_id, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.runs.heartbeat(self.attempt_id)
            except Exception:  # noqa: S112 - a busy ledger misses one beat; the keeper allows many
                continue

    def stop(self) -> None:
        self.stopped.set()


def _respond(
    run: _Run, params: dict[str, Any] | None, created: bool, param_error: ValueError | None
) -> Outcome:
    """The phases in order; each exit is an Outcome (``respond`` records the attempt's end)."""
    rb = run.rb
    run.record(
        "run.started",
        f"runbook {rb.name} started by {run.requested_by or ('alert' if run.alert else 'warroom')}"
        + (f" (attempt {run.attempt.attempt})" if run.attempt.attempt > 1 else ""),
        {"flow_run_id": run.flow_run_id, "params": redact(params or {}), "created_incident": created},
        once="started",
    )
    run.name_run()
    if param_error is not None:
        run.record("run.failed", f"invalid params: {param_error}", once="failed", publish=True)
        raise param_error
    run.triage()
    run.investigate()

    for m in rb.mitigations:
        proposal = run.propose(m)
        if proposal is None:
            continue
        if run.failed_here(proposal):
            continue  # re-entered after this one failed: the next proposal, never the same change again
        if not run.already_attempted(m, proposal):
            gate = run.approve(m, proposal)
            run.publish()
            if not gate.approved:
                detail = (
                    "approval timed out: nothing executed"
                    if gate.timed_out
                    else f"not approved: {gate.reason}"
                )
                run.record(
                    "run.handed_back",
                    f"{m.id} {detail}; over to the humans",
                    once=f"handback:{m.id}",
                    publish=True,
                )
                return Outcome(
                    incident=run.incident.id,
                    status=run.incident.status.value,
                    outcome="handed_back",
                    detail=detail,
                )
            if not run.mitigate(m, proposal, gate):
                continue  # the next proposal is offered
        if run.verify():
            run.advance(Status.RESOLVED, f"resolved: {m.id} applied and verified")
            return Outcome(
                incident=run.incident.id, status="resolved", outcome="resolved", detail=f"{m.id} verified"
            )
        run.advance(Status.INVESTIGATING, f"verification failed after {m.id}; investigating again")

    run.record(
        "run.handed_back",
        "no further mitigation to propose; over to the humans",
        once="handback",
        publish=True,
    )
    incident = run.store.get(run.incident.number)
    return Outcome(
        incident=incident.id,
        status=incident.status.value,
        outcome="handed_back",
        detail="no mitigation resolved it",
    )
