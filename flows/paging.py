"""Paging: an incident at a level that pages (severity policy) pages the first step of its team's
escalation path (primary, then secondary, then whoever the schedule names after them); a page nobody
acknowledges within the window goes to the next step. Every page, delivery and escalation is on the
timeline; the ledger keeps which step is open, so any process can escalate it (`warroom up`'s keeper does).
"""

from __future__ import annotations

import uuid

from tasks.notifiers import Notice, NotifyError, notifier
from warroom.chat.cadence import newest_plan
from warroom.duration import format_duration, parse_duration
from warroom.events import EventKind
from warroom.incident import Incident, Severity
from warroom.ledger import Page, PageState, Store, now
from warroom.oncall.current import on_call, roster, team_of
from warroom.oncall.model import Schedule
from warroom.runbook import load_catalogue
from warroom.settings import Settings
from warroom.severity import communication_plan, describe_policy

DEFAULT_PATH = ["primary", "secondary"]


def _path(schedule: Schedule | None, team: str | None) -> tuple[str | None, list[str]]:
    """The team whose schedule answers and its escalation path."""
    if schedule is None:
        return team, DEFAULT_PATH
    return schedule.team, schedule.escalation.path


def page_step(
    settings: Settings, store: Store, incident: Incident, team: str | None, step: int
) -> Page | None:
    """Page step ``step`` of the path (once: None when it was paged before or the path has no such step)."""
    schedule = team_of(settings, roster(settings), team)  # read once for the whole page
    name, path = _path(schedule, team)
    if step >= len(path):
        return None
    window = schedule.escalation.window(step) if schedule else None
    target = path[step]
    current = on_call(settings, store, name)
    layers = {x.name for x in schedule.layers} if schedule else {*DEFAULT_PATH, *settings.oncall}
    person: str | None = target  # a person named on the path, or whoever holds the layer now
    if target in layers:
        holders = current.get(target) or []
        person = holders[0] if holders else None
    # The shorter window wins: a level's urgency (P1: 5m) is never slowed by a team's habit, nor a team's
    # own quicker escalation by a level's default (docs/runbooks.md, "Severity").
    level_window = settings.policy(incident.severity).ack_within
    ack_within = min(window, level_window) if window else level_window
    label = f"{name}/{target}" if name else target
    at = now()
    due = at + ack_within
    who = person or f"nobody (no one on call for {label})"
    text = (
        f"paged {who} as {label}" + (" (escalated)" if step else "") + f"; acknowledge within "
        f"{format_duration(ack_within)}: warroom ack {incident.id} --as {person or 'NAME'}"
    )
    page = store.open_page(incident.number, step, label, person, due, text, at=at)
    if page is not None:
        deliver(settings, store, incident, page, schedule)
    return page


def deliver(
    settings: Settings, store: Store, incident: Incident, page: Page, schedule: Schedule | None
) -> None:
    """Send the page on every configured channel; each outcome on the timeline, a failure never lost."""
    contact = schedule.people.get(page.person or "") if schedule else None
    notice = Notice(
        incident=incident.id,
        title=incident.title,
        severity=incident.severity.value,
        person=page.person,
        target=page.target,
        step=page.step,
        ack_within_seconds=(page.due_at - page.paged_at).total_seconds(),
        slack_user=contact.slack if contact else None,
        email=contact.email if contact else None,
    )
    for channel in settings.page_channels:
        try:
            said = notifier(channel).send(notice, settings)
        except NotifyError as exc:
            store.append(
                incident.number,
                EventKind.PAGE_FAILED,
                f"page to {page.person} by {channel} failed: {exc}",
                data={"step": page.step, "channel": channel},
            )
            continue
        store.append(
            incident.number,
            EventKind.PAGE_DELIVERED,
            f"page to {page.person} by {channel}: {said}",
            data={"step": page.step, "channel": channel},
        )


def start_paging(settings: Settings, store: Store, incident: Incident, team: str | None) -> Page | None:
    """Page the first step when the incident's level pages and nobody has acknowledged it yet."""
    if incident.acknowledged_at is not None or not settings.policy(incident.severity).page:
        return None
    return page_step(settings, store, incident, team, 0)


def escalate_due(settings: Settings, store: Store) -> list[str]:
    """Escalate every page past its window whose incident nobody acknowledged; one line per page."""
    done = []
    for page in store.due_pages():
        incident = store.get(page.incident_number)
        team = page.target.split("/", 1)[0] if "/" in page.target else None
        _, path = _path(team_of(settings, roster(settings), team), team)
        waited = format_duration(page.due_at - page.paged_at)
        if page.step + 1 < len(path):
            if store.close_page(
                page, PageState.ESCALATED, f"{page.person} did not acknowledge within {waited}"
            ):
                page_step(settings, store, incident, team, page.step + 1)
                done.append(f"{incident.id}: escalated past {page.target}")
        elif store.close_page(
            page,
            PageState.EXHAUSTED,
            f"nobody acknowledged within {waited} of the last page: the escalation path is exhausted",
        ):
            done.append(f"{incident.id}: escalation path exhausted")
    return done


def change_severity(
    settings: Settings, store: Store, ref: str | int, level: Severity, *, actor: str, reason: str
) -> tuple[Incident, Incident]:
    """A person sets the incident's level (`warroom incidents severity`, `/warroom severity`): recorded, and
    the new level's policy applied under its runbook's team. The incident before and after."""
    before = store.get(ref)
    incident = store.set_severity(before.number, level, actor=actor, reason=reason)
    loaded = load_catalogue([settings.runbooks_dir]).runbooks.get(incident.runbook or "")
    team = loaded.runbook.team if loaded else None
    severity_changed(settings, store, incident, team, key=f"severity-policy:{uuid.uuid4().hex}")
    return before, incident


def severity_changed(
    settings: Settings, store: Store, incident: Incident, team: str | None, key: str
) -> None:
    """A severity set by a person re-applies the policy: what the level obliges now, and paging when the
    new level pages and nobody has acknowledged yet."""
    policy = settings.policy(incident.severity)
    store.append(
        incident.number,
        EventKind.SEVERITY_POLICY,
        describe_policy(incident.severity, policy),
        data=policy.model_dump(mode="json"),
        key=key,
    )
    before = newest_plan(store.timeline(incident.number))
    if before:  # the new level's cadence and audience, under what the runbook set
        own = before.get("runbook") or {}
        text, data = communication_plan(
            policy,
            channel=before.get("channel"),
            update_every=parse_duration(own["update_every"]) if own.get("update_every") else None,
            status_page=own.get("status_page"),
            stakeholders=own.get("stakeholders") or (),
            components=own.get("components") or (),
        )
        store.append(
            incident.number, EventKind.COMMUNICATION_PLANNED, text, data=data, key=f"{key}:communication"
        )
    start_paging(settings, store, incident, team)
