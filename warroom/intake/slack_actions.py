"""The Acknowledge button of a Slack page, pressed: Slack POSTs the interaction (form field ``payload``)
to ``/slack/actions``, signed with the app's signing secret (``v0=`` HMAC-SHA256 of ``v0:TS:BODY``, the
timestamp within five minutes). The Slack user is mapped to a person by the on-call schedules."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from warroom.acknowledge import acknowledge
from warroom.intake.auth import Unauthorized
from warroom.ledger import Store, StoreError
from warroom.oncall.current import roster
from warroom.settings import Settings

ACK_ACTION = "warroom_ack"
MAX_SKEW_SECONDS = 300


def verify(headers: dict[str, str], body: bytes, settings: Settings, at: float | None = None) -> None:
    if settings.slack_signing_secret is None:
        raise Unauthorized("Slack actions are off: set WARROOM_SLACK_SIGNING_SECRET")
    stamp = headers.get("x-slack-request-timestamp", "")
    if not stamp.isdigit() or abs((at or time.time()) - int(stamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("Slack request timestamp missing or more than 5 minutes off (a replay?)")
    base = b"v0:" + stamp.encode() + b":" + body
    expected = (
        "v0="
        + hmac.new(
            settings.slack_signing_secret.get_secret_value().encode(), base, hashlib.sha256
        ).hexdigest()
    )
    if not hmac.compare_digest(expected, headers.get("x-slack-signature", "")):
        raise Unauthorized("Slack signature does not match the signing secret")


def handle(body: bytes, settings: Settings, store: Store) -> str:
    """What to say back in Slack (ephemeral text); ValueError for an interaction that is not ours."""
    try:
        payload = json.loads(parse_qs(body.decode()).get("payload", ["{}"])[0])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a Slack interaction: {exc}") from None
    actions = [a for a in payload.get("actions") or [] if a.get("action_id") == ACK_ACTION]
    if not actions:
        raise ValueError("no Warroom acknowledge action in this interaction")
    slack_user = str((payload.get("user") or {}).get("id") or "")
    people = {
        p.slack: name for s in roster(settings).schedules.values() for name, p in s.people.items() if p.slack
    }
    person = people.get(slack_user)
    if person is None:
        return f"Slack user {slack_user or '?'} is in no on-call schedule: acknowledge with `warroom ack`"
    incident = str(actions[0].get("value") or "")
    try:
        taken = acknowledge(store, incident, person, via="slack")
    except (StoreError, ValueError) as exc:
        return f"could not acknowledge {incident}: {exc}"
    if not taken.first:
        return f"{taken.incident.id} was acknowledged before; commander: {taken.incident.roles.commander}"
    return f"{taken.incident.id} acknowledged by {person}; commander: {taken.incident.roles.commander}"
