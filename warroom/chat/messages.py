"""What the incident's room says: its topic, the pinned summary (edited in place), and one line per event a
person in the room needs, coalesced into as few messages as Slack's limits want.

Every text from the ledger is escaped as Slack asks (``&``, ``<``, ``>``): an alert's label or a person's
note can never become a mention (``<!channel>``) or a link in the room.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
TOPIC_LIMIT = 250  # Slack's limit on a channel topic
MESSAGE_LIMIT = 3000  # one section of a message (Slack's limit on a section's text)

# The events a responder in the room needs, with the mark that leads their line.
POSTED: dict[EventKind, str] = {
    EventKind.TRIAGED: ":label:",
    EventKind.SEVERITY_SET: ":rotating_light:",
    EventKind.INCIDENT_ACKNOWLEDGED: ":raising_hand:",
    EventKind.ROLE_ASSIGNED: ":bust_in_silhouette:",
    EventKind.COMMAND_HANDED_OVER: ":arrows_counterclockwise:",
    EventKind.STATUS_CHANGED: ":arrow_forward:",
    EventKind.NOTE: ":memo:",
    EventKind.UPDATE_POSTED: ":mega:",
    EventKind.UPDATE_DUE: ":alarm_clock:",
    EventKind.STATUS_POSTED: ":globe_with_meridians:",
    EventKind.PAST_SIMILAR: ":scroll:",
    EventKind.STATUS_DUE: ":alarm_clock:",
    EventKind.STATUS_PUBLISH_FAILED: ":warning:",
    EventKind.SUMMARY_SENT: ":incoming_envelope:",
    EventKind.SUMMARY_FAILED: ":warning:",
    EventKind.PAGE_ESCALATED: ":loudspeaker:",
    EventKind.PAGE_EXHAUSTED: ":warning:",
    EventKind.DIAGNOSTIC_RESULT: ":mag:",
    EventKind.DIAGNOSTIC_FAILED: ":x:",
    EventKind.MITIGATION_PROPOSED: ":bulb:",
    EventKind.APPROVAL_REQUESTED: ":hourglass_flowing_sand:",
    EventKind.APPROVAL_GRANTED: ":white_check_mark:",
    EventKind.APPROVAL_REJECTED: ":no_entry:",
    EventKind.APPROVAL_REFUSED: ":no_entry_sign:",
    EventKind.APPROVAL_TIMED_OUT: ":alarm_clock:",
    EventKind.MITIGATION_APPLIED: ":hammer_and_wrench:",
    EventKind.MITIGATION_PARTIAL: ":warning:",
    EventKind.MITIGATION_FAILED: ":x:",
    EventKind.MITIGATION_UNKNOWN: ":question:",
    EventKind.VERIFICATION_PASSED: ":large_green_circle:",
    EventKind.VERIFICATION_FAILED: ":red_circle:",
    EventKind.RUN_LOST: ":warning:",
    EventKind.RUN_FAILED: ":x:",
    EventKind.POSTMORTEM_DRAFTED: ":books:",
}


def escape(text: str) -> str:
    """Text as Slack shows it literally: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def line(event: TimelineEvent) -> str | None:
    """The event's line in the room, or None when the room does not need it."""
    mark = POSTED.get(event.kind)
    if mark is None:
        return None
    if event.kind is EventKind.DIAGNOSTIC_RESULT and event.data.get("trouble"):
        mark = ":rotating_light:"
    spoken = (EventKind.NOTE, EventKind.UPDATE_POSTED, EventKind.STATUS_POSTED, EventKind.SUMMARY_SENT)
    who = f" ({escape(event.actor)})" if event.kind in spoken else ""
    reminded = event.kind in (EventKind.UPDATE_DUE, EventKind.STATUS_DUE)
    mention = str(event.data.get("mention") or "") if reminded else ""
    if _USER_ID.match(mention):  # the person reminded, by the schedules' chat id: Slack notifies them
        mark += f" <@{mention}>"
    return f"{mark} `{event.at:%H:%M:%S}` {escape(event.text)}{who}"


def coalesce(lines: Iterable[tuple[str, int]], limit: int = MESSAGE_LIMIT) -> list[tuple[str, int]]:
    """``(line, event id)`` in order, joined into messages of at most ``limit`` characters, each with the
    id of the last event it tells (a longer line is cut)."""
    messages: list[tuple[str, int]] = []
    current: list[str] = []
    last = 0
    size = 0
    for text, event_id in lines:
        text = text if len(text) <= limit else text[: limit - 1] + "…"
        if current and size + 1 + len(text) > limit:
            messages.append(("\n".join(current), last))
            current, size = [], 0
        current.append(text)
        size += len(text) + (1 if len(current) > 1 else 0)
        last = event_id
    if current:
        messages.append(("\n".join(current), last))
    return messages


def opening(incident: Incident) -> str:
    """The room's first message (in a shared channel, the head of the incident's thread)."""
    return f":rotating_light: {incident.id} [{incident.severity.value}] {escape(incident.title)}: its room"


def topic(incident: Incident, next_update: datetime | None) -> str:
    """Severity, status, commander and the next update due, within Slack's 250 characters."""
    parts = [
        f"{incident.severity.value} {incident.status.value}",
        f"commander: {escape(incident.roles.commander or 'nobody yet')}",
    ]
    if next_update is not None and incident.status.is_open:
        parts.append(f"next update {next_update:%H:%M} UTC")
    parts.append(escape(incident.title))
    text = " | ".join(parts)
    return text if len(text) <= TOPIC_LIMIT else text[: TOPIC_LIMIT - 1] + "…"


def summary(incident: Incident, doing: str | None, links: dict[str, str]) -> str:
    """The pinned summary: what, how bad, who, what is being done, where to look."""
    roles = incident.roles
    rows = [
        f"*{escape(incident.id)}: {escape(incident.title)}*",
        f"*Severity* {incident.severity.value}   *Status* {incident.status.value}"
        + (f"   *Service* {escape(incident.service)}" if incident.service else ""),
        f"*Commander* {escape(roles.commander or 'nobody yet')}   *Comms lead* "
        f"{escape(roles.comms_lead or '-')}   *Responders* {escape(', '.join(roles.responders) or '-')}",
        f"*Detected* {incident.detected_at:%Y-%m-%d %H:%M} UTC"
        + (f"   *Resolved* {incident.resolved_at:%H:%M} UTC" if incident.resolved_at else ""),
        f"*Now* {escape(doing or 'triage')}",
    ]
    if links:
        rows.append("   ".join(f"<{url}|{escape(name)}>" for name, url in links.items()))
    rows.append(f"From a terminal: `warroom incidents show {incident.id}`")
    return "\n".join(rows)
