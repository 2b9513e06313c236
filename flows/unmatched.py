"""Triage of an incident no runbook matched: the people get what a runbook's run would give them.

An alert that matches no runbook still opens an incident (the receiver's router). Nothing runs
diagnostics or proposes a change for it, but its level obliges what any incident at that level gets: the
severity policy on the timeline, the communication and post-mortem plan, the commander and comms lead
from the on-call schedule, and the page. The receiver's launch loop calls this for each such incident, so
a P1 with no runbook pages within a second of its alert (issue 26: it used to sit silent).
"""

from __future__ import annotations

from datetime import timedelta

from flows.paging import start_paging
from warroom.events import EventKind
from warroom.incident import Incident, Status
from warroom.ledger import Store, now
from warroom.oncall.current import on_call
from warroom.roles import roles_from_oncall
from warroom.settings import Settings
from warroom.severity import communication_plan, describe_policy, postmortem_plan

# Incidents older than this when first seen untriaged are left alone: a ledger from before this existed
# must not page for last month's alerts.
LOOK_BACK = timedelta(hours=24)


def triage_unmatched(settings: Settings, store: Store, incident: Incident) -> Incident:
    """Record the level's policy and plans, assign the on-call roles, page, and mark it triaged. Each
    step is keyed, so a pass cut short and done again records nothing twice and pages once."""
    number, level = incident.number, incident.severity
    policy = settings.policy(level)
    key = f"unmatched:{incident.id}:{level.value}"
    store.append(
        number,
        EventKind.SEVERITY_POLICY,
        describe_policy(level, policy),
        data=policy.model_dump(mode="json"),
        key=f"{key}:policy",
    )
    text, data = communication_plan(policy)
    store.append(number, EventKind.COMMUNICATION_PLANNED, text, data=data, key=f"{key}:communication")
    text, data = postmortem_plan(policy)
    store.append(number, EventKind.POSTMORTEM_PLANNED, text, data=data, key=f"{key}:postmortem")
    oncall = on_call(settings, store, None)
    incident = roles_from_oncall(store, incident, oncall, policy)
    start_paging(settings, store, incident, None)
    return store.set_status(
        number,
        Status.TRIAGED,
        text=f"triaged as {level.value} by policy; no runbook matches, so people lead the response",
        key=f"{key}:triaged",
    )


def triage_unmatched_due(settings: Settings, store: Store) -> int:
    """Triage every recent incident no runbook matched and nobody triaged yet; how many."""
    due = store.untriaged_unmatched(since=now() - LOOK_BACK)
    for incident in due:
        triage_unmatched(settings, store, incident)
    return len(due)
