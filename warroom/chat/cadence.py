"""The stakeholder-update cadence: when the next update is due, and the reminders owed when it is late.

The interval is the incident's newest communication plan's ``update_every`` (the severity policy's, a
runbook's ``communicate.update_every`` over it, planned again when the severity changes). It counts from the
last time stakeholders were told (``update.posted``, a public ``status.posted``, a ``summary.sent``), or from
detection before the first. The public status page keeps its own clock on the same interval when the plan
asks for a status page: from the last public post, or detection; its reminders are ``status.due``.
Once an interval has passed, the comms lead is reminded (the commander when nobody leads comms); at twice
the interval the commander is told.
Each reminder is keyed by the update it counts from, so it is written once; a new update starts again.
Nothing is owed once the incident is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warroom.duration import format_duration, parse_duration
from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent
from warroom.ledger import Store

TOLD = frozenset({EventKind.UPDATE_POSTED, EventKind.STATUS_POSTED, EventKind.SUMMARY_SENT})


@dataclass(frozen=True)
class Cadence:
    every: timedelta
    since: datetime  # the last update, or detection
    mark: int  # the id of the update it counts from (0: detection)

    @property
    def next_due(self) -> datetime:
        return self.since + self.every


@dataclass(frozen=True)
class Reminder:
    level: int  # 1: whoever writes updates is reminded; 2: the commander is told
    person: str | None
    cadence: Cadence
    key: str

    @property
    def late_by(self) -> timedelta:
        return self.cadence.every * self.level


def newest_plan(timeline: list[TimelineEvent]) -> dict[str, Any]:
    """The newest communication plan's data ({} before triage planned one)."""
    plans = [e for e in timeline if e.kind is EventKind.COMMUNICATION_PLANNED]
    return plans[-1].data if plans else {}


def _clock(incident: Incident, every: object, marks: list[TimelineEvent]) -> Cadence:
    """A cadence of ``every`` counting from the newest of ``marks``, or from detection before any."""
    if marks:
        return Cadence(parse_duration(str(every)), marks[-1].at, marks[-1].id)
    return Cadence(parse_duration(str(every)), incident.detected_at, 0)


def cadence_of(incident: Incident, timeline: list[TimelineEvent]) -> Cadence | None:
    """The cadence in force, or None when the plan asks for updates only as needed."""
    every = newest_plan(timeline).get("update_every")
    if not every:
        return None
    return _clock(incident, every, [e for e in timeline if e.kind in TOLD])


def reminders_due(incident: Incident, timeline: list[TimelineEvent], at: datetime) -> list[Reminder]:
    """The reminders owed at ``at`` that the timeline does not hold yet."""
    cadence = cadence_of(incident, timeline)
    if cadence is None or not incident.status.is_open:
        return []
    return _owed(incident, timeline, cadence, EventKind.UPDATE_DUE, "update-due", at)


def public_cadence(incident: Incident, timeline: list[TimelineEvent]) -> Cadence | None:
    """The status page's clock: None unless the plan asks for a status page and a cadence, or once the
    public incident or the incident itself is resolved."""
    plan = newest_plan(timeline)
    every = plan.get("update_every")
    if not plan.get("status_page") or not every or not incident.status.is_open:
        return None
    posts = [e for e in timeline if e.kind is EventKind.STATUS_POSTED]
    if posts and posts[-1].data.get("state") == "resolved":
        return None
    return _clock(incident, every, posts)


def public_reminders_due(incident: Incident, timeline: list[TimelineEvent], at: datetime) -> list[Reminder]:
    """The status page's reminders owed at ``at`` that the timeline does not hold yet."""
    cadence = public_cadence(incident, timeline)
    if cadence is None:
        return []
    return _owed(incident, timeline, cadence, EventKind.STATUS_DUE, "status-due", at)


def _owed(
    incident: Incident,
    timeline: list[TimelineEvent],
    cadence: Cadence,
    kind: EventKind,
    prefix: str,
    at: datetime,
) -> list[Reminder]:
    """Whoever writes updates once an interval has passed, the commander at two; each once per mark."""
    given = {e.key for e in timeline if e.kind is kind}
    roles = incident.roles
    owed = []
    for level, person in ((1, roles.comms_lead or roles.commander), (2, roles.commander)):
        key = f"{prefix}:{cadence.mark}:{level}"
        if at >= cadence.since + cadence.every * level and key not in given:
            owed.append(Reminder(level, person, cadence, key))
    return owed


def remind(
    store: Store, incident: Incident, kind: EventKind, due: Reminder, text: str, mention: str | None
) -> TimelineEvent:
    """A reminder on the timeline (the room tells it, with ``mention``: the person's chat id), once."""
    return store.append(
        incident.number,
        kind,
        text,
        data={
            "level": due.level,
            "person": due.person,
            "mention": mention,
            "every": format_duration(due.cadence.every),
            "due_at": due.cadence.next_due.isoformat(),
        },
        key=due.key,
    )


def update_refusal(incident: Incident, person: str | None) -> str | None:
    """Why ``person`` may not post the incident's stakeholder update (None when they may: they lead comms or
    command it)."""
    roles = incident.roles
    if person is not None and person in {roles.comms_lead, roles.commander}:
        return None
    return (
        f"updates to stakeholders come from the comms lead ({roles.comms_lead or 'nobody'}) or the "
        f"commander ({roles.commander or 'nobody'})"
    )


def post_update(
    store: Store, ref: str | int, person: str | None, text: str, data: dict[str, Any] | None = None
) -> TimelineEvent:
    """A stakeholder update on the timeline, the cadence's mark (the CLI's `incidents update`, the room's
    `/warroom update`); ValueError saying who may, for anyone else."""
    incident = store.get(ref)
    why = update_refusal(incident, person)
    if why is not None or person is None:
        raise ValueError(why)
    return store.append(incident.number, EventKind.UPDATE_POSTED, text[:4000], actor=person, data=data)
