"""`/warroom` in Slack (a slash command, `POST /slack/commands`, signed as every Slack request is), for the
responders in an incident's room: ``note TEXT`` (on the timeline, under the name the schedules give the
author, as `warroom note` records it), ``status`` (where the incident stands, to the asker only) and
``ack`` (taken as the page's Acknowledge button takes it: by the Slack user a schedule names). In a room
the incident is the room's; anywhere else the command names it first (``/warroom status INC-42``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from warroom.acknowledge import acknowledge
from warroom.chat.messages import escape
from warroom.events import EventKind
from warroom.incident import INCIDENT_ID, Incident
from warroom.intake.slack_actions import person_of
from warroom.ledger import NotFound, Store, StoreError
from warroom.settings import Settings


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who typed the command sees."""
    return {"response_type": "ephemeral", "text": text}


USAGE = "`/warroom note TEXT`, `/warroom status` or `/warroom ack` (add INC-N outside an incident's room)"


def handle(body: bytes, settings: Settings, store: Store) -> dict[str, Any]:
    """Slack's reply to the command; ValueError for a body that is not a slash command."""
    try:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a Slack command: {exc}") from None
    if "command" not in form or "user_id" not in form:
        raise ValueError("not a Slack command: 'command' and 'user_id' are missing")
    words = form.get("text", "").split()
    verb = words[0].lower() if words else ""
    rest = words[1:]
    if verb not in ("note", "status", "ack"):
        return ephemeral(f"Not a Warroom command: {escape(' '.join(words)) or '(none)'}. Try {USAGE}.")
    incident = _incident(store, form.get("channel_id", ""), rest)
    if incident is None:
        return ephemeral(f"Which incident? This channel is no incident's room: {USAGE}.")
    if rest and INCIDENT_ID.match(rest[0].upper()):
        rest = rest[1:]
    user = form["user_id"][:100]
    person = person_of(settings, user)
    if verb == "status":
        return ephemeral(_status(incident))
    if verb == "note":
        words_said = " ".join(rest)
        if not words_said:
            return ephemeral("A note needs some words: `/warroom note what you saw, did or decided`.")
        store.append(
            incident.number,
            EventKind.NOTE,
            words_said[:4000],
            actor=person or f"slack:{user}",
            data={"via": "slack", "slack_user": user},
        )
        return ephemeral(f"Noted on {incident.id}.")
    if person is None:
        return ephemeral(f"Slack user {user} is in no on-call schedule: acknowledge with `warroom ack`.")
    try:
        taken = acknowledge(store, incident.number, person, via="slack")
    except (StoreError, ValueError) as exc:
        return ephemeral(f"Could not acknowledge {incident.id}: {exc}")
    commander = taken.incident.roles.commander
    if not taken.first:
        return ephemeral(f"{incident.id} was acknowledged before; commander: {commander}")
    return ephemeral(f"{incident.id} acknowledged by {person}; commander: {commander}")


def _incident(store: Store, channel: str, rest: list[str]) -> Incident | None:
    if rest and INCIDENT_ID.match(rest[0].upper()):
        try:
            return store.get(rest[0].upper())
        except NotFound:
            return None
    room = store.room_at(channel, None)
    return None if room is None else store.get(room.incident_number)


def _status(incident: Incident) -> str:
    roles = incident.roles
    return (
        f"{incident.id} [{incident.severity.value}] {escape(incident.title)}: {incident.status.value}; "
        f"commander {escape(roles.commander or 'nobody yet')}, comms lead {escape(roles.comms_lead or '-')}, "
        f"responders {escape(', '.join(roles.responders) or '-')}; detected {incident.detected_at:%H:%M} UTC"
    )
