"""Drafts a person edits before anything is published: a public status update (plain words about the
service, its impact, when it started and when the next update comes; nothing from the investigation) and the
leadership summary (impact, customer impact, business impact, ETA, what is being done, next update), drawn
from the incident and its timeline. The words that go out are the person's; these only spare them a blank
page at 3 a.m."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.chat.cadence import cadence_of, newest_plan
from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent
from warroom.severity import SeverityPolicy
from warroom.status.model import ComponentState, PublicState, StatusPost, StatusSettings


@dataclass(frozen=True)
class PublicDraft:
    title: str
    state: PublicState
    text: str
    components: dict[str, ComponentState]
    started_at: datetime
    every: timedelta | None  # the cadence: the next update is due this long after a post


@dataclass(frozen=True)
class Summary:
    subject: str
    body: str  # Markdown
    audience: list[str]


def components_of(incident: Incident, timeline: list[TimelineEvent], settings: StatusSettings) -> list[str]:
    """The status-page components the incident touches: the runbook's ``communicate.components``, else the
    service's in settings, else the service itself, else the incident's title."""
    named = list(newest_plan(timeline).get("components") or [])
    if named:
        return [str(c) for c in named]
    if incident.service:
        return settings.components.get(incident.service, [incident.service])
    return [incident.title]


def _service(components: list[str]) -> str:
    return " and ".join(components)


def public_draft(
    incident: Incident,
    timeline: list[TimelineEvent],
    posts: list[StatusPost],
    settings: StatusSettings,
    state: PublicState,
) -> PublicDraft:
    cadence = cadence_of(incident, timeline)
    every = cadence.every if cadence else None
    last = posts[-1] if posts else None
    components = list(last.components) if last else components_of(incident, timeline, settings)
    impact = settings.impact.get(incident.severity, ComponentState.DEGRADED)
    if state is PublicState.RESOLVED:
        states = dict.fromkeys(components, ComponentState.OPERATIONAL)
    elif last is not None:
        states = dict(last.components)
    else:
        states = dict.fromkeys(components, impact)
    started = posts[0].started_at if posts else incident.detected_at
    service = _service(components)
    within = f" We will post the next update within {format_duration(every)}." if every else ""
    impact_words = ", ".join(sorted({s.words for s in states.values()})) or impact.words
    text = {
        PublicState.INVESTIGATING: (
            f"We are currently experiencing issues with {service} ({impact_words}), since "
            f"{started:%H:%M} UTC. We are investigating.{within}"
        ),
        PublicState.IDENTIFIED: (
            f"We have identified the cause of the issues with {service} and are working on a fix.{within}"
        ),
        PublicState.MONITORING: (
            f"A fix for {service} is in place and we are watching it work. Some requests may still be "
            f"affected.{within}"
        ),
        PublicState.RESOLVED: (
            f"The issues with {service} are resolved. It has been working normally since "
            f"{(incident.mitigated_at or incident.resolved_at or started):%H:%M} UTC. We are sorry for the "
            "disruption."
        ),
    }[state]
    title = last.title if last else f"{service}: {impact.words}"
    return PublicDraft(title, state, text, states, started, every)


def _doing(incident: Incident, timeline: list[TimelineEvent]) -> str:
    """What the responders are doing, from the newest facts."""
    for event in reversed(timeline):
        what = str(event.data.get("proposal") or event.data.get("mitigation") or "the change")
        if event.kind is EventKind.VERIFICATION_PASSED:
            return "The change worked and the service has recovered; we are confirming it holds."
        if event.kind is EventKind.MITIGATION_APPLIED:
            return f"{what} was applied at {event.at:%H:%M} UTC; we are verifying recovery."
        if event.kind in {EventKind.MITIGATION_FAILED, EventKind.MITIGATION_PARTIAL}:
            return f"{what} did not take ({event.at:%H:%M} UTC); the responders are choosing the next step."
        if event.kind is EventKind.APPROVAL_REQUESTED:
            return f"{what} is proposed and waiting for an engineer's approval."
    return "The responders are investigating the cause."


def leadership_summary(
    incident: Incident,
    timeline: list[TimelineEvent],
    posts: list[StatusPost],
    policy: SeverityPolicy,
    settings: StatusSettings,
    at: datetime,
) -> Summary:
    plan = newest_plan(timeline)
    audience = [str(a) for a in plan.get("audience") or []] if plan else list(policy.notify)
    components = list(posts[-1].components) if posts else components_of(incident, timeline, settings)
    impact = settings.impact.get(incident.severity, ComponentState.DEGRADED)
    lasted = format_duration(max(timedelta(minutes=1), (incident.resolved_at or at) - incident.detected_at))
    public = posts[-1] if posts else None
    if incident.resolved_at:
        eta = f"Resolved at {incident.resolved_at:%H:%M} UTC."
    elif incident.mitigated_at:
        eta = f"Mitigated at {incident.mitigated_at:%H:%M} UTC; confirming recovery."
    else:
        eta = "Not known yet."
    cadence = cadence_of(incident, timeline)
    next_update = (
        f"By {max(cadence.next_due, at):%H:%M} UTC (every {format_duration(cadence.every)})."
        if cadence and not incident.resolved_at
        else ("None: this is the last." if incident.resolved_at else "As needed.")
    )
    state = "resolved" if incident.resolved_at else incident.status.value
    lines = [
        f"**Impact:** {incident.severity.value}: {policy.meaning}. {_service(components)}: {impact.words} "
        f"since {incident.detected_at:%H:%M} UTC ({lasted}).",
        "**Customer impact:** "
        + (
            f'the status page says: "{public.text}" ({public.state.value}, {public.posted_at:%H:%M} UTC).'
            if public
            else "nothing published on the status page yet."
        ),
        "**Business impact:** to be assessed by the comms lead (orders, revenue, contracts at risk).",
        f"**ETA:** {eta}",
        f"**What we are doing:** {_doing(incident, timeline)} Commander: "
        f"{incident.roles.commander or 'nobody yet'}; comms: {incident.roles.comms_lead or 'nobody yet'}.",
        f"**Next update:** {next_update}",
    ]
    subject = f"[{incident.severity.value}] {incident.id} {incident.title}: {state}"
    return Summary(subject, "\n\n".join(lines), audience)


def resolution_announcement(incident: Incident, posts: list[StatusPost], audience: list[str]) -> Summary:
    """Told to the audience the summaries went to, when the incident resolves."""
    resolved = incident.resolved_at or incident.detected_at
    lasted = format_duration(max(timedelta(minutes=1), resolved - incident.detected_at))
    public = posts[-1].text if posts and posts[-1].state is PublicState.RESOLVED else None
    lines = [
        f"**{incident.id} is resolved** at {resolved:%H:%M} UTC, after {lasted} "
        f"(detected {incident.detected_at:%H:%M} UTC).",
        f"**Customers were told:** {public}" if public else "**Customers were told:** nothing further.",
        f"**Next:** a blameless post-mortem; commander {incident.roles.commander or 'nobody'}.",
    ]
    return Summary(
        f"[{incident.severity.value}] {incident.id} {incident.title}: resolved", "\n\n".join(lines), audience
    )
