"""The responders' /warroom commands in the incident's room (severity, commander, update, resolve) with the
authorization their CLI commands have, and the stakeholder-update cadence the keeper reminds the room of.
Slack's own SDK against the loopback Web API; the cadence made short by WARROOM_SEVERITY, not by sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from flows.communicate import keep_rooms
from tests.patience import HANG
from tests.peers.slack import SlackPeer, signed_command
from tests.test_chat_rooms import _incident, _receiver_and_a_room, slack  # noqa: F401 - fixture
from tests.test_cli import warroom
from warroom.events import EventKind
from warroom.incident import Role, Severity, Status
from warroom.ledger import Store
from warroom.settings import get_settings

Say = Callable[[str, str], str]


@pytest.fixture
def room(slack: SlackPeer, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, str, Say]]:
    """A P1 with its room, alice commanding and bob leading comms; ``say(user, text)`` types in the room."""
    monkeypatch.setenv("WARROOM_SEVERITY", '{"P1": {"update_every": "1s"}, "P2": {"update_every": "1s"}}')
    _, number, kept, app = _receiver_and_a_room(store, monkeypatch, "checkout slow")
    store.assign_role(number, Role.COMMANDER, "alice")
    store.assign_role(number, Role.COMMS_LEAD, "bob")
    with TestClient(app) as client:

        def say(user: str, text: str) -> str:
            body, headers = signed_command(user, text, kept.channel)
            answer = client.post("/slack/commands", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            return str(answer.json()["text"])

        yield number, kept.channel, say


def _kinds(store: Store, number: int, kind: EventKind) -> list[tuple[str, str]]:
    return [(e.actor, e.text) for e in store.timeline(number) if e.kind is kind]


def test_severity_commander_update_and_resolve_from_the_room_as_the_cli_authorizes_them(
    room: tuple[int, str, Say], store: Store
) -> None:
    number, _channel, say = room
    assert "in no on-call schedule" in say("U0NOBODY", "severity P2 worse")
    assert "Which level" in say("U0CAROL", "severity P7")
    assert (
        say("U0CAROL", "severity P2 every region now")
        == f"INC-{number} severity P1 -> P2: its policy applies now."
    )
    incident = store.get(number)
    assert incident.severity is Severity.P2
    [(actor, _)] = _kinds(store, number, EventKind.SEVERITY_SET)[-1:]
    assert actor == "carol"
    plans = [e for e in store.timeline(number) if e.kind is EventKind.COMMUNICATION_PLANNED]
    assert len(plans) == 2 and plans[-1].data["update_every"] == "1s"  # planned again for the new level
    # Only the commander hands command over; a mention is read as Slack escapes it.
    assert "alice commands" in say("U0BOB", "commander <@U0BOB|bob>")
    assert say("U0ALICE", "commander <@U0BOB|bob>") == f"INC-{number}: bob commands it now."
    assert store.get(number).roles.commander == "bob"
    assert [a for a, _ in _kinds(store, number, EventKind.COMMAND_HANDED_OVER)] == ["alice"]
    assert "in no on-call schedule" in say("U0BOB", "commander <@U0NOBODY|x>")
    # Updates come from the comms lead or the commander.
    assert "comms lead (nobody) or the commander (bob)" in say("U0CAROL", "update all good")
    assert "Update recorded" in say("U0BOB", "update checkout is slow in every region; rolling back")
    assert _kinds(store, number, EventKind.UPDATE_POSTED) == [
        ("bob", "checkout is slow in every region; rolling back")
    ]
    assert "is resolved; post-mortem drafted" in say("U0CAROL", "resolve rolled back by hand")
    resolved = store.get(number)
    assert resolved.status is Status.RESOLVED
    assert _kinds(store, number, EventKind.POSTMORTEM_DRAFTED)
    assert "resolved already" in say("U0CAROL", "resolve")


def _wait_for(store: Store, number: int, what: str, check: Callable[[], bool]) -> None:
    settings = get_settings()
    deadline = time.monotonic() + HANG
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        keep_rooms(settings, store)
        time.sleep(0.2)


def test_a_late_update_reminds_the_comms_lead_then_the_commander_and_stops_at_resolution(
    room: tuple[int, str, Say],
    store: Store,
    slack: SlackPeer,
    ledger_url: str,
) -> None:
    number, channel, say = room

    def due() -> list[tuple[int, str | None]]:
        return [
            (e.data["level"], e.data["person"])
            for e in store.timeline(number)
            if e.kind is EventKind.UPDATE_DUE
        ]

    # The P1's cadence is WARROOM_SEVERITY's 1 s, not the shipped 15 minutes.
    _wait_for(store, number, "the comms lead and then the commander reminded", lambda: len(due()) >= 2)
    assert due() == [(1, "bob"), (2, "alice")]
    _wait_for(
        store,
        number,
        "the reminders posted in the room with their mentions",
        lambda: "<@U0ALICE>" in "\n".join(m["text"] for m in slack.channel_found(channel).messages.values()),
    )
    told = "\n".join(m["text"] for m in slack.channel_found(channel).messages.values())
    assert "<@U0BOB>" in told and "no stakeholder update" in told
    # An update (here from a terminal) starts the count again: the next reminders count from it, once each.
    env = {"WARROOM_DATABASE_URL": ledger_url}
    refused = warroom("incidents", "update", f"INC-{number}", "still looking", "--as", "carol", env=env)
    assert refused.returncode == 1 and "comms lead (bob) or the commander (alice)" in refused.stderr
    posted = warroom("incidents", "update", f"INC-{number}", "still investigating", "--as", "bob", env=env)
    assert posted.returncode == 0, posted.stderr
    _wait_for(store, number, "reminded again after the update", lambda: len(due()) >= 4)
    assert due()[2:] == [(1, "bob"), (2, "alice")]
    # Resolved right after an update: the reminders that update would owe are never written.
    say("U0BOB", "update fixed; watching")
    store.set_status(number, Status.RESOLVED, actor="alice", text="fixed")
    at_resolution = len(due())
    time.sleep(2.5)  # past two intervals of the 1 s cadence
    keep_rooms(get_settings(), store)
    assert len(due()) == at_resolution


def test_publish_and_brief_from_the_room_speak_only_for_the_comms_lead_or_the_commander(
    room: tuple[int, str, Say], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, _channel, say = room
    assert "STATE is one of investigating, identified, monitoring, resolved" in say(
        "U0BOB", "publish fine all good"
    )
    drafted = say("U0BOB", "publish investigating")
    assert (
        drafted.startswith("Draft for the status page (investigating)")
        and "We are currently experiencing" in drafted
    )
    assert store.status_posts(number) == []  # a draft publishes nothing
    refused = say("U0CAROL", "publish resolved all fixed")
    assert "not published" in refused and "comms lead (bob) or the commander (alice)" in refused
    assert _kinds(store, number, EventKind.STATUS_REFUSED)[0][0] == "carol"
    assert say("U0BOB", "publish identified A bad release; rolling back.") == (
        "Published on the status page: identified."
    )
    [post] = store.status_posts(number)
    assert (post.author, post.state.value, post.text) == ("bob", "identified", "A bad release; rolling back.")
    [said] = [e for e in store.timeline(number) if e.kind is EventKind.STATUS_POSTED]
    assert said.data["via"] == "slack"
    # the leadership summary: the draft to the asker, sent by the comms lead only
    brief = say("U0ALICE", "brief")
    assert f"[P1] INC-{number}" in brief and "Customer impact" in brief and "A bad release" in brief
    assert "not sent" in say("U0CAROL", "brief send")
    nobody = say("U0BOB", "brief send")  # no audience has addresses here
    assert nobody == "Summary sent to nobody; no addresses for all-hands, c-level."
