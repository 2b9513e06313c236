"""Triage: the severity the runbook's rules give and what the policy makes of it (cadence, audience, status
page, post-mortem; ``WARROOM_SEVERITY`` overrides), the roles on call, the run tagged with its incident."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from flows.response import Response, RunOutcome
from warroom.duration import format_duration
from warroom.incident import Role, Status
from warroom.severity import classify, policy_for


def triage(response: Response) -> RunOutcome | None:
    triage = classify(
        response.runbook.severity,
        {"alert": response.alert, "params": response.params},
        response.settings.default_severity,
    )
    if response.incident.severity is not triage.level:
        response.incident = response.store.set_severity(
            response.incident.number, triage.level, reason=triage.reason, key=f"{response.run_key}:severity"
        )
    else:
        response.record("triage", f"severity {triage.level.value}: {triage.reason}", once="triage")
    policy = policy_for(triage.level, response.settings.severity)
    every = format_duration(policy.update_every) if policy.update_every else "as needed"
    response.record(
        "severity.policy",
        f"{triage.level.value} ({policy.meaning}): stakeholder updates {every} to "
        f"{', '.join(policy.notify) or 'nobody'}; status page {'yes' if policy.status_page else 'no'}; "
        f"post-mortem {policy.postmortem.value}",
        policy.model_dump(mode="json"),
        once=f"policy:{triage.level.value}",
    )
    roles = response.incident.roles
    oncall = response.settings.oncall
    if roles.commander is None and oncall.get("primary"):
        response.incident = response.store.assign_role(
            response.incident.number, Role.COMMANDER, oncall["primary"][0]
        )
    if roles.comms_lead is None and oncall.get("comms"):
        response.incident = response.store.assign_role(
            response.incident.number, Role.COMMS_LEAD, oncall["comms"][0]
        )
    response.advance(Status.TRIAGED, f"triaged as {triage.level.value} by runbook {response.runbook.name}")
    tag_run(response)
    return None


def tag_run(response: Response) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    tags = {
        f"incident:{response.incident.id}",
        f"severity:{response.incident.severity.value}",
        f"runbook:{response.runbook.name}",
    }
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(ctx.flow_run.id)
        keep = [t for t in current.tags if not t.startswith(("incident:", "severity:", "runbook:"))]
        client.update_flow_run(ctx.flow_run.id, tags=sorted({*keep, *tags}))
