"""What people write in an incident's room, from Slack's Events API (`POST /slack/events`, signed as every
Slack request is): a message that starts with the note prefix (``note:`` by default) lands on the
incident's timeline as a note, under the name the on-call schedules give its author, so the post-mortem has
it. Slack's URL check is answered; Slack's retries of one event are recorded once (by its event id); bots'
messages, edits and everything outside a room are left alone."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from warroom.events import EventKind
from warroom.intake.alert import PayloadError, decode_json
from warroom.intake.slack_actions import person_of
from warroom.ledger import Store
from warroom.settings import IntegrationSettings, Settings, integration_config

NOTE_LIMIT = 4000


class RoomNotesSettings(IntegrationSettings):
    """The room's messages in (`POST /slack/events`)"""

    model_config = integration_config("chat")

    note_prefix: str = Field(
        default="note:",
        min_length=1,
        description="A message in the incident's room that starts with this lands on its timeline as a note",
    )


def handle(body: bytes, settings: Settings, store: Store) -> dict[str, Any]:
    """Slack's answer (the URL check's challenge, or nothing to say); ValueError for a body not Slack's."""
    try:
        event = decode_json(body)
    except PayloadError as exc:
        raise ValueError(f"not a Slack event: {exc.message}") from None
    if not isinstance(event, dict):
        raise ValueError("not a Slack event: not a JSON object")
    kind = event.get("type")
    if kind == "url_verification":
        return {"challenge": str(event.get("challenge", ""))}
    if kind != "event_callback":
        raise ValueError(f"not a Slack event this receiver takes: type {kind!r}")
    inner = event.get("event")
    if not isinstance(inner, dict):
        raise ValueError("not a Slack event: 'event' must be an object")
    note = _note(inner, settings.of(RoomNotesSettings).note_prefix)
    if note is None:
        return {}
    room = store.room_at(str(inner.get("channel", "")), _str(inner.get("thread_ts")))
    if room is None:
        return {}
    user = str(inner.get("user", ""))[:100]
    who = person_of(settings, user) or f"slack:{user}"
    store.append(
        room.incident_number,
        EventKind.NOTE,
        note,
        actor=who,
        data={"via": "slack", "slack_user": user, "ts": _str(inner.get("ts"))},
        key=f"slack-event:{str(event.get('event_id', ''))[:100] or _str(inner.get('ts'))}",
    )
    return {}


def _note(message: dict[str, Any], prefix: str) -> str | None:
    """The note in a person's new message, or None (not a message, a bot's, an edit, no prefix)."""
    if message.get("type") != "message" or message.get("subtype") or message.get("bot_id"):
        return None
    text = str(message.get("text") or "").strip()
    if not text.lower().startswith(prefix.lower()):
        return None
    said = text[len(prefix) :].strip()
    return said[:NOTE_LIMIT] or None


def _str(value: object) -> str | None:
    return None if value is None else str(value)[:100]
