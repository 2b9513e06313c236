"""Triage: the severity the runbook's rules give, the roles on call, the run tagged with its incident."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from flows.response import Response, RunOutcome
from warroom.incident import Role, Status
from warroom.severity import classify


def triage(r: Response) -> RunOutcome | None:
    triage = classify(r.rb.severity, {"alert": r.alert, "params": r.params}, r.settings.default_severity)
    if r.incident.severity is not triage.level:
        r.incident = r.store.set_severity(
            r.incident.number, triage.level, reason=triage.reason, key=f"{r.run_key}:severity"
        )
    else:
        r.record("triage", f"severity {triage.level.value}: {triage.reason}", once="triage")
    roles = r.incident.roles
    oncall = r.settings.oncall
    if roles.commander is None and oncall.get("primary"):
        r.incident = r.store.assign_role(r.incident.number, Role.COMMANDER, oncall["primary"][0])
    if roles.comms_lead is None and oncall.get("comms"):
        r.incident = r.store.assign_role(r.incident.number, Role.COMMS_LEAD, oncall["comms"][0])
    r.advance(Status.TRIAGED, f"triaged as {triage.level.value} by runbook {r.rb.name}")
    tag_run(r)
    return None


def tag_run(r: Response) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    tags = {
        f"incident:{r.incident.id}",
        f"severity:{r.incident.severity.value}",
        f"runbook:{r.rb.name}",
    }
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(ctx.flow_run.id)
        keep = [t for t in current.tags if not t.startswith(("incident:", "severity:", "runbook:"))]
        client.update_flow_run(ctx.flow_run.id, tags=sorted({*keep, *tags}))
