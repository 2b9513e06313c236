"""`/warroom` in Slack (a slash command, `POST /slack/commands`, signed as every Slack request is), for the
responders in an incident's room, each with the authorization its CLI command has:

- ``note TEXT``: on the timeline under the name the schedules give the author, as `warroom note`;
- ``status``: where the incident stands, to the asker only;
- ``ack``: taken as the page's Acknowledge button takes it;
- ``severity P1 [why]``: the level's policy applied again (paging, cadence), as `warroom incidents severity`;
- ``commander @person``: a handover by the commander (anyone while nobody commands), as `incidents assign`;
- ``update TEXT``: a stakeholder update from the comms lead or the commander (the cadence counts from it);
- ``publish STATE TEXT``: the public status page's next update (investigating, identified, monitoring,
  resolved) in the comms lead's or commander's words, as `warroom status post`; ``publish STATE`` alone
  shows Warroom's draft to edit;
- ``brief``: the leadership summary's draft, to the asker; ``brief send`` sends it to the severity's
  audience, as `warroom status send`;
- ``resolve [why]``: resolved by hand, its post-mortem drafted, as `warroom incidents resolve`.

The author is the person the schedules give the Slack user id Slack signed for: a stronger proof than the
CLI's typed ``--as`` for the commands that take one, and the same as the Acknowledge button's for the rest.
In a room the incident is the room's; anywhere else the command names it first (``/warroom status INC-42``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from flows.paging import change_severity
from flows.postmortem import resolve_by_hand
from flows.stakeholders import SummaryRefused, draft_summary, send_summary
from flows.status_page import StatusRefused, draft_for, publish_status
from warroom.acknowledge import acknowledge
from warroom.chat.cadence import post_update, update_refusal
from warroom.chat.messages import escape
from warroom.events import EventKind
from warroom.incident import INCIDENT_ID, Incident, Role, Severity, Status
from warroom.intake.slack_actions import person_of
from warroom.ledger import NotFound, Store, StoreError
from warroom.roles import AssignmentRefused, Wanted, assign_roles, known_people
from warroom.settings import Settings
from warroom.status.model import PublicState


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who typed the command sees."""
    return {"response_type": "ephemeral", "text": text}


USAGE = (
    "`/warroom note TEXT`, `status`, `ack`, `severity P1 [why]`, `commander @person`, `update TEXT`, "
    "`publish STATE TEXT`, `brief [send]` or `resolve [why]` (add INC-N outside an incident's room)"
)
_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")  # how Slack escapes a user named in a command


class _Said:
    """One command as typed: its incident, the words after it, and who typed it."""

    def __init__(self, settings: Settings, store: Store, incident: Incident, words: list[str], user: str):
        self.settings, self.store, self.incident, self.words, self.user = (
            settings,
            store,
            incident,
            words,
            user,
        )
        self.person = person_of(settings, user)

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def unknown(self, what: str) -> dict[str, Any]:
        return ephemeral(f"Slack user {self.user} is in no on-call schedule: {what} from a terminal.")


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
    if verb not in VERBS:
        return ephemeral(f"Not a Warroom command: {escape(' '.join(words)) or '(none)'}. Try {USAGE}.")
    incident = _incident(store, form.get("channel_id", ""), rest)
    if incident is None:
        return ephemeral(f"Which incident? This channel is no incident's room: {USAGE}.")
    if rest and INCIDENT_ID.match(rest[0].upper()):
        rest = rest[1:]
    said = _Said(settings, store, incident, rest, form["user_id"][:100])
    try:
        return VERBS[verb](said)
    except (StoreError, ValueError) as exc:
        return ephemeral(f"{incident.id}: {escape(str(exc))}")


def _status(said: _Said) -> dict[str, Any]:
    incident = said.incident
    roles = incident.roles
    return ephemeral(
        f"{incident.id} [{incident.severity.value}] {escape(incident.title)}: {incident.status.value}; "
        f"commander {escape(roles.commander or 'nobody yet')}, comms lead {escape(roles.comms_lead or '-')}, "
        f"responders {escape(', '.join(roles.responders) or '-')}; detected {incident.detected_at:%H:%M} UTC"
    )


def _note(said: _Said) -> dict[str, Any]:
    if not said.words:
        return ephemeral("A note needs some words: `/warroom note what you saw, did or decided`.")
    said.store.append(
        said.incident.number,
        EventKind.NOTE,
        said.text[:4000],
        actor=said.person or f"slack:{said.user}",
        data={"via": "slack", "slack_user": said.user},
    )
    return ephemeral(f"Noted on {said.incident.id}.")


def _ack(said: _Said) -> dict[str, Any]:
    if said.person is None:
        return said.unknown("acknowledge with `warroom ack`")
    taken = acknowledge(said.store, said.incident.number, said.person, via="slack")
    commander = taken.incident.roles.commander
    if not taken.first:
        return ephemeral(f"{said.incident.id} was acknowledged before; commander: {commander}")
    return ephemeral(f"{said.incident.id} acknowledged by {said.person}; commander: {commander}")


def _severity(said: _Said) -> dict[str, Any]:
    if said.person is None:
        return said.unknown("change the severity with `warroom incidents severity`")
    if not said.words or said.words[0].upper() not in Severity.__members__:
        return ephemeral("Which level? `/warroom severity P1 why it is worse (or better)`.")
    level = Severity(said.words[0].upper())
    before = said.incident
    if level is before.severity:
        return ephemeral(f"{before.id} is {level.value} already.")
    reason = " ".join(said.words[1:]) or "set in chat"
    _, incident = change_severity(
        said.settings, said.store, before.number, level, actor=said.person, reason=reason[:500]
    )
    return ephemeral(
        f"{incident.id} severity {before.severity.value} -> {level.value}: its policy applies now."
    )


def _commander(said: _Said) -> dict[str, Any]:
    if said.person is None:
        return said.unknown("hand over with `warroom incidents assign --commander`")
    if len(said.words) != 1:
        return ephemeral("Who? `/warroom commander @person`.")
    named = said.words[0]
    mention = _MENTION.match(named)
    target = person_of(said.settings, mention.group(1)) if mention else named.lstrip("@")
    if not target:
        return ephemeral(f"{escape(named)} is in no on-call schedule: nobody was made commander.")
    store, incident = said.store, said.incident
    try:
        assign_roles(
            store,
            incident.number,
            said.person,
            [Wanted(Role.COMMANDER, target)],
            known_people(store, said.settings, incident),
        )
    except AssignmentRefused as exc:
        return ephemeral(f"{incident.id}: not assigned: {escape(str(exc))}")
    return ephemeral(f"{incident.id}: {escape(target)} commands it now.")


def _update(said: _Said) -> dict[str, Any]:
    why = update_refusal(said.incident, said.person)
    if why is not None:
        return ephemeral(escape(why[0].upper() + why[1:]) + ".")
    if not said.words:
        return ephemeral("An update needs its words: `/warroom update what is known, what is being done`.")
    post_update(
        said.store, said.incident.number, said.person, said.text, {"via": "slack", "slack_user": said.user}
    )
    return ephemeral(f"Update recorded on {said.incident.id}; the cadence counts from now.")


def _publish(said: _Said) -> dict[str, Any]:
    states = ", ".join(s.value for s in PublicState)
    if not said.words or said.words[0].lower() not in {s.value for s in PublicState}:
        return ephemeral(f"`/warroom publish STATE TEXT`: STATE is one of {states}.")
    state = PublicState(said.words[0].lower())
    text = " ".join(said.words[1:])
    if not text:
        draft = draft_for(said.store, said.settings, said.incident.number, state)
        return ephemeral(
            f"Draft for the status page ({state.value}), edit and post it:\n`/warroom publish "
            f"{state.value} {escape(draft.text)}`"
        )
    try:
        done = publish_status(
            said.store, said.settings, said.incident.number, said.person, state, text, via="slack"
        )
    except StatusRefused as exc:
        return ephemeral(escape(str(exc)))
    vendor = f" ({escape(done.vendor)})" if done.vendor else ""
    return ephemeral(f"Published on the status page: {state.value}{vendor}.")


def _brief(said: _Said) -> dict[str, Any]:
    if said.words[:1] == ["send"]:
        try:
            sent = send_summary(said.store, said.settings, said.incident.number, said.person)
        except SummaryRefused as exc:
            return ephemeral(escape(str(exc)))
        failed = "; ".join(f"{d.address}: {d.error}" for d in sent.failed)
        reached = len(sent.deliveries) - len(sent.failed)
        audience = ", ".join(sent.summary.audience)
        head = f"Summary sent to {reached} address(es) of {audience}" if reached else "Summary sent to nobody"
        return ephemeral(
            head
            + (f"; not delivered: {escape(failed)}" if failed else "")
            + (f"; no addresses for {', '.join(sent.unknown)}" if sent.unknown else "")
            + "."
        )
    draft = draft_summary(said.store, said.settings, said.incident.number)
    return ephemeral(
        f"*{escape(draft.subject)}* (to {', '.join(draft.audience)})\n\n{escape(draft.body)}\n\n"
        "`/warroom brief send` sends it as it is; edit it with `warroom status send --file`."
    )


def _resolve(said: _Said) -> dict[str, Any]:
    if said.person is None:
        return said.unknown("resolve with `warroom incidents resolve`")
    if said.incident.status in (Status.RESOLVED, Status.CLOSED):
        return ephemeral(f"{said.incident.id} is {said.incident.status.value} already.")
    reason = " ".join(said.words) or "resolved in chat"
    learned = resolve_by_hand(
        said.settings, said.store, said.incident.number, actor=said.person, reason=reason[:500]
    )
    incident = said.incident
    return ephemeral(
        f"{incident.id} is resolved; post-mortem drafted at {learned.path}, review on {learned.review}."
    )


VERBS: dict[str, Callable[[_Said], dict[str, Any]]] = {
    "note": _note,
    "status": _status,
    "ack": _ack,
    "severity": _severity,
    "commander": _commander,
    "update": _update,
    "publish": _publish,
    "brief": _brief,
    "resolve": _resolve,
}


def _incident(store: Store, channel: str, rest: list[str]) -> Incident | None:
    if rest and INCIDENT_ID.match(rest[0].upper()):
        try:
            return store.get(rest[0].upper())
        except NotFound:
            return None
    room = store.room_at(channel, None)
    return None if room is None else store.get(room.incident_number)
