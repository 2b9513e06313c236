"""Triage: the severity the runbook's rules give and what the policy makes of it (cadence, audience, status
page, post-mortem; ``WARROOM_SEVERITY`` overrides), the roles on call, the run tagged with its incident."""

from __future__ import annotations

from prefect.context import FlowRunContext

from flows.paging import start_paging
from flows.prefect_api import prefect_api
from flows.response import Response, RunOutcome
from warroom.events import EventKind
from warroom.expressions import ExpressionError, render_value
from warroom.incident import Severity, Status
from warroom.oncall.current import on_call
from warroom.reports.past import similar
from warroom.roles import roles_from_oncall
from warroom.runbook import severity_of
from warroom.severity import SeverityPolicy, communication_plan, describe_policy, postmortem_plan


def triage(response: Response) -> RunOutcome | None:
    level = _decide_level(response)
    policy = response.settings.policy(level)
    response.record(
        EventKind.SEVERITY_POLICY,
        describe_policy(level, policy),
        policy.model_dump(mode="json"),
        once=f"policy:{level.value}",
    )
    plan_follow_up(response, policy)
    recall_the_past(response)
    oncall = on_call(response.settings, response.store, response.runbook.team)
    response.incident = roles_from_oncall(response.store, response.incident, oncall, policy)
    start_paging(response.settings, response.store, response.incident, response.runbook.team)
    response.advance(Status.TRIAGED, f"triaged as {level.value} by runbook {response.runbook.name}")
    tag_run(response)
    return None


def _decide_level(response: Response) -> Severity:
    """The incident's level, decided once: an alert's run takes the receiver's decision (and a person's
    change since, which the ledger holds); a person's start classifies with the params it resolved."""
    decided = response.decided
    if decided is not None:
        level = response.incident.severity
        since = "" if level is decided.level else f"; set since from {decided.level.value}"
        response.record(
            EventKind.TRIAGED,
            f"severity {level.value}: as the receiver decided it{since}",
            {"level": level.value, "decided": decided.level.value, "by": "receiver"},
            once="triage",
        )
        return level
    triage = severity_of(
        response.runbook, response.alert, response.params, response.settings.default_severity
    )
    if response.incident.severity is not triage.level:
        response.incident = response.store.set_severity(
            response.incident.number, triage.level, reason=triage.reason, key=f"{response.run_key}:severity"
        )
    else:
        response.record(
            EventKind.TRIAGED,
            f"severity {triage.level.value}: {triage.reason}",
            {"level": triage.level.value, "by": "run"},
            once="triage",
        )
    return triage.level


def tag_run(response: Response) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    tags = {
        f"incident:{response.incident.id}",
        f"severity:{response.incident.severity.value}",
        f"runbook:{response.runbook.name}",
    }
    # The tags the run started with (the launch's, or a person's from the UI): no read of the run again.
    keep = [t for t in ctx.flow_run.tags if not t.startswith(("incident:", "severity:", "runbook:"))]
    with prefect_api() as client:
        client.update_flow_run(ctx.flow_run.id, tags=sorted({*keep, *tags}))


def recall_the_past(response: Response) -> None:
    """The similar incidents before this one, what was done then and whether it held, on the timeline."""
    before = similar(response.store, response.incident)
    if not before:
        return
    text = f"{len(before)} similar incident(s) before: " + " | ".join(p.line() for p in before)
    response.record(
        EventKind.PAST_SIMILAR, text[:3000], {"incidents": [p.as_dict() for p in before]}, once="past:similar"
    )


def plan_follow_up(response: Response, policy: SeverityPolicy) -> None:
    """The runbook's communicate and post-mortem sections over the severity policy: who hears what, how
    often, and whether a post-mortem is owed, on the timeline for the commander to act on."""
    talk = response.runbook.communicate
    channel = talk.channel
    if channel:
        try:
            channel = str(render_value(channel, response.context()))
        except ExpressionError:
            pass  # the template as written still says where people meet
    text, data = communication_plan(
        policy,
        channel=channel,
        update_every=talk.update_every,
        status_page=talk.status_page,
        stakeholders=talk.stakeholders,
        components=talk.components,
    )
    level = response.incident.severity.value
    response.record(EventKind.COMMUNICATION_PLANNED, text, data, once=f"communication:{level}")
    spec = response.runbook.postmortem
    text, data = postmortem_plan(
        policy, required=spec.required, owner=spec.owner, action_items=[i.title for i in spec.action_items]
    )
    response.record(EventKind.POSTMORTEM_PLANNED, text, data, once=f"postmortem:{level}")
