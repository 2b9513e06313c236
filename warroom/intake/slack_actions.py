"""Slack's requests to the app: every one signed with the app's signing secret (``v0=`` HMAC-SHA256 of
``v0:TS:BODY``, checked by Slack's own ``SignatureVerifier``, the timestamp within five minutes). The
Acknowledge button of a page is answered here; an approval's buttons and modal, and the ``/warroom``
command, are handed to the flows (``SlackHandlers``). A Slack user is mapped to a person by the schedules."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from pydantic import Field, SecretStr
from slack_sdk.signature import SignatureVerifier

from warroom.acknowledge import acknowledge
from warroom.intake.alert import PayloadError, decode_json
from warroom.intake.auth import Unauthorized
from warroom.ledger import Store, StoreError
from warroom.oncall.current import roster
from warroom.settings import IntegrationSettings, Settings, integration_config


class SlackAppSettings(IntegrationSettings):
    """The Slack app's button presses in (`POST /slack/actions`)"""

    model_config = integration_config("slack")

    signing_secret: SecretStr | None = Field(
        default=None,
        description="The Slack app's signing secret; set, it turns on the receiver's /slack/actions",
    )


ACK_ACTION = "warroom_ack"
APPROVAL_ACTIONS = {"warroom_approve", "warroom_reject"}
MAX_SKEW_SECONDS = 300


def verify(headers: dict[str, str], body: bytes, settings: Settings, at: float | None = None) -> None:
    """Slack signed this request for the app (Slack's own ``SignatureVerifier``), within five minutes."""
    app = settings.of(SlackAppSettings)
    if app.signing_secret is None:
        raise Unauthorized("Slack requests are off: set WARROOM_SLACK_SIGNING_SECRET")
    stamp = headers.get("x-slack-request-timestamp", "")
    if not stamp.isdigit() or abs((at or time.time()) - int(stamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("Slack request timestamp missing or more than 5 minutes off (a replay?)")
    verifier = SignatureVerifier(app.signing_secret.get_secret_value())
    try:
        expected = verifier.generate_signature(timestamp=stamp, body=body) or ""
    except UnicodeDecodeError:
        raise Unauthorized("Slack signs UTF-8 bodies: this one is not") from None
    if not hmac.compare_digest(expected, headers.get("x-slack-signature", "")):
        raise Unauthorized("Slack signature does not match the signing secret")


def person_of(settings: Settings, slack_user: str) -> str | None:
    """The person the on-call schedules give this Slack user id, if any."""
    for schedule in roster(settings).schedules.values():
        for name, contact in schedule.people.items():
            if contact.slack and contact.slack == slack_user:
                return name
    return None


def interaction(body: bytes) -> dict[str, Any]:
    """The interaction Slack sent (form field ``payload``, JSON), or ValueError saying what is wrong."""
    try:
        form = parse_qs(body.decode(), strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a Slack interaction: {exc}") from None
    try:
        payload = decode_json(form.get("payload", ["{}"])[0].encode())
    except PayloadError as exc:
        raise ValueError(f"not a Slack interaction: {exc.message}") from None
    if not isinstance(payload, dict):
        raise ValueError("not a Slack interaction: the payload is not a JSON object")
    return payload


@dataclass(frozen=True)
class SlackHandlers:
    """The flows' side of Slack's requests, composed at the top (`warroom up`): this floor neither resumes
    runs nor re-applies a severity's policy nor drafts post-mortems."""

    answer: Callable[[dict[str, Any]], dict[str, Any]]  # an approval interaction in, Slack's answer out
    command: Callable[[bytes], dict[str, Any]]  # a /warroom command's form in, Slack's answer out


def handle(
    body: bytes, settings: Settings, store: Store, handlers: SlackHandlers | None = None
) -> dict[str, Any]:
    """Slack's answer to an interaction (JSON); ValueError for an interaction that is not ours."""
    payload = interaction(body)
    kind = payload.get("type")
    actions = payload.get("actions")
    ids = {a.get("action_id") for a in actions if isinstance(a, dict)} if isinstance(actions, list) else set()
    if kind == "view_submission" or (kind == "block_actions" and ids & APPROVAL_ACTIONS):
        if handlers is None:
            raise ValueError("approvals from chat are not served by this receiver")
        return handlers.answer(payload)
    text = _acknowledge(payload, settings, store)
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _acknowledge(payload: dict[str, Any], settings: Settings, store: Store) -> str:
    """The page's Acknowledge button: what to say back (ephemeral text)."""
    raw_actions = payload.get("actions")
    raw_user = payload.get("user")
    if not isinstance(raw_actions, list) or not isinstance(raw_user or {}, dict):
        raise ValueError("not a Slack interaction: 'actions' must be a list and 'user' an object")
    actions = [a for a in raw_actions if isinstance(a, dict) and a.get("action_id") == ACK_ACTION]
    if not actions:
        raise ValueError("no Warroom acknowledge action in this interaction")
    slack_user = str((raw_user or {}).get("id") or "")[:100]
    person = person_of(settings, slack_user)
    if person is None:
        return f"Slack user {slack_user or '?'} is in no on-call schedule: acknowledge with `warroom ack`"
    incident = str(actions[0].get("value") or "")[:100]
    try:
        taken = acknowledge(store, incident, person, via="slack")
    except (StoreError, ValueError) as exc:
        return f"could not acknowledge {incident}: {exc}"
    if not taken.first:
        return f"{taken.incident.id} was acknowledged before; commander: {taken.incident.roles.commander}"
    return f"{taken.incident.id} acknowledged by {person}; commander: {taken.incident.roles.commander}"
