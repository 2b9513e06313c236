"""The incident's room in Slack, kept by the keeper's pass (flows/communicate.py) through `slack_sdk`
against a loopback Web API that checks tokens, scopes, names, Slack's error words and its rate limits."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.communicate import keep_rooms, rooms_ready
from tasks.chat import ChatError
from tests.conftest import REPO
from tests.patience import HANG
from tests.peers.slack import (
    SIGNING_SECRET,
    TOKEN,
    SlackPeer,
    running_slack,
    signed,
    signed_command,
    signed_message,
)
from warroom.events import EventKind
from warroom.incident import Role, Severity, Status
from warroom.ledger import ChatRoom, Store
from warroom.settings import Settings, get_settings
from warroom.severity import communication_plan


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SlackPeer]:
    """Slack on loopback, the chat provider set to it, and the shipped SRE schedule (alice is U0ALICE)."""
    (tmp_path / "oncall").mkdir(exist_ok=True)
    shutil.copy(REPO / "oncall" / "sre.yaml", tmp_path / "oncall")
    with running_slack() as peer:
        monkeypatch.setenv("WARROOM_CHAT_PROVIDER", "slack")
        monkeypatch.setenv("WARROOM_SLACK_URL", peer.url)
        monkeypatch.setenv("WARROOM_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("WARROOM_DEFAULT_TEAM", "sre")
        get_settings.cache_clear()
        yield peer
    get_settings.cache_clear()


def kept_until(settings: Settings, store: Store, done: Any) -> None:
    """Keeper passes, one a quarter second, until ``done()``: a pass leaves what Slack rate-limits for a
    later one."""
    deadline = time.monotonic() + HANG
    while not done():
        assert time.monotonic() < deadline, "the room was never told"
        keep_rooms(settings, store)
        time.sleep(0.25)


def _incident(
    store: Store, settings: Settings, title: str, level: Severity = Severity.P1, **talk: object
) -> int:
    """An incident triaged at ``level``, its communication plan on the timeline as triage writes it."""
    opened = store.open_or_attach(f"key:{title}", title=title, severity=level).incident
    text, data = communication_plan(settings.policy(level), **talk)  # type: ignore[arg-type]
    store.append(opened.number, EventKind.COMMUNICATION_PLANNED, text, data=data)
    return opened.number


def test_a_p1_gets_its_own_channel_with_topic_invites_and_a_pinned_summary_kept_current(
    slack: SlackPeer, store: Store
) -> None:
    settings = get_settings()
    number = _incident(store, settings, "Checkout errors: 5xx > 5%")
    store.assign_role(number, Role.COMMANDER, "alice")
    keep_rooms(settings, store)

    channel = slack.channel_named(f"inc-{number}-checkout-errors-5xx-5")
    assert channel.topic.startswith("P1 detected | commander: alice | next update ")
    assert channel.topic.endswith(" UTC | Checkout errors: 5xx &gt; 5%")
    assert "U0ALICE" in channel.members
    [pinned] = channel.pins
    assert f"INC-{number}: Checkout errors: 5xx &gt; 5%" in channel.messages[pinned]["text"]
    room = store.room(number)
    assert room is not None and room.name == channel.name and room.summary_ts == pinned
    kinds = [e.kind for e in store.timeline(number)]
    assert EventKind.CHAT_OPENED in kinds

    store.set_status(number, Status.TRIAGED, actor="alice")
    store.set_status(number, Status.INVESTIGATING, actor="alice")
    # The first pass posted three messages in its second: Slack's burst for a channel. The next pass waits
    # out the channel's rate limit, and the one after tells it.
    kept_until(settings, store, lambda: channel.topic.startswith("P1 investigating | commander: alice"))
    assert channel.messages[pinned]["edits"] == 1  # edited in place, not posted again
    assert "*Status* investigating" in channel.messages[pinned]["text"]
    told = [m["text"] for m in channel.messages.values() if m["ts"] != pinned]
    assert any("investigating" in t for t in told)

    keep_rooms(settings, store)  # nothing new: nothing posted, nothing edited
    assert channel.messages[pinned]["edits"] == 1
    assert len(channel.messages) == len(told) + 1


def test_a_p3_gets_no_room_and_a_runbook_that_names_a_channel_gets_it_at_any_level(
    slack: SlackPeer, store: Store
) -> None:
    settings = get_settings()
    quiet = _incident(store, settings, "slow report", Severity.P3)
    named = _incident(store, settings, "queue backlog", Severity.P3, channel="#inc-queue")
    keep_rooms(settings, store)
    assert store.room(quiet) is None
    assert store.room(named) is not None and slack.channel_named("inc-queue")


def test_a_taken_name_gets_the_next_suffix(slack: SlackPeer, store: Store) -> None:
    settings = get_settings()
    slack.add_channel("inc-1-db-down")
    number = _incident(store, settings, "DB down")
    assert number == 1
    keep_rooms(settings, store)
    assert store.room(number).name == "inc-1-db-down-2"  # type: ignore[union-attr]


def test_a_burst_of_fifty_events_is_one_message_and_every_one_is_in_it(
    slack: SlackPeer, store: Store
) -> None:
    settings = get_settings()
    number = _incident(store, settings, "burst")
    keep_rooms(settings, store)
    before = len(slack.posts)
    for i in range(50):
        store.append(number, EventKind.NOTE, f"finding {i:02d}", actor="bob")
    keep_rooms(settings, store)
    [burst] = slack.posts[before:-1] or slack.posts[before:]  # one message (the summary edit is no post)
    assert all(f"finding {i:02d} (bob)" in burst["text"] for i in range(50))
    assert not slack.limited
    room = store.room(number)
    assert room is not None and room.posted_through == store.timeline(number)[-1].id


def test_slack_down_is_written_once_and_the_room_is_told_everything_when_it_is_back(
    slack: SlackPeer, store: Store
) -> None:
    settings = get_settings()
    number = _incident(store, settings, "outage")
    keep_rooms(settings, store)
    slack.down = True
    for i in range(3):
        store.append(number, EventKind.NOTE, f"while slack is down {i}", actor="carol")
        keep_rooms(settings, store)
    failed = [e for e in store.timeline(number) if e.kind is EventKind.CHAT_FAILED]
    assert len(failed) == 1 and "service_unavailable" in failed[0].text and TOKEN not in failed[0].text
    slack.down = False
    keep_rooms(settings, store)
    texts = "\n".join(p["text"] for p in slack.posts)
    assert all(f"while slack is down {i}" in texts for i in range(3))
    assert [e.kind for e in store.timeline(number)].count(EventKind.CHAT_RESTORED) == 1


def test_a_title_or_note_never_becomes_a_mention(slack: SlackPeer, store: Store) -> None:
    settings = get_settings()
    number = _incident(store, settings, "<!channel> pay now")
    store.append(number, EventKind.NOTE, "ping <@U0BOB> & <https://evil.example|click>", actor="mallory")
    keep_rooms(settings, store)
    keep_rooms(settings, store)
    every = "\n".join(p["text"] for p in slack.posts) + slack.channel_named(store.room(number).name).topic  # type: ignore[union-attr]
    assert "<!channel>" not in every and "<@U0BOB>" not in every and "<https://evil" not in every
    assert "&lt;!channel&gt; pay now" in every


def test_one_shared_channel_gets_a_thread_per_incident(
    slack: SlackPeer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = slack.add_channel("incidents")
    monkeypatch.setenv("WARROOM_CHAT_SHARED_CHANNEL", shared.id)
    get_settings.cache_clear()
    settings = get_settings()
    first, second = _incident(store, settings, "first"), _incident(store, settings, "second")
    for number in (first, second):
        store.append(number, EventKind.NOTE, f"looking at INC-{number}", actor="alice")

    def both_told() -> bool:  # one channel's rate limit (a burst of three a second) for both threads
        told = {m["thread_ts"] for m in shared.messages.values() if m["thread_ts"]}
        rooms = [store.room(first), store.room(second)]
        return all(r is not None and r.thread in told for r in rooms)

    kept_until(settings, store, both_told)
    rooms = [store.room(first), store.room(second)]
    assert all(r is not None and r.channel == shared.id for r in rooms)
    threads = {r.thread for r in rooms if r is not None}
    assert len(threads) == 2 and threads <= set(shared.messages)
    replies = [m for m in shared.messages.values() if m["thread_ts"]]
    assert {m["thread_ts"] for m in replies} == threads  # each incident's lines in its own thread
    assert [c.name for c in slack.channels.values()] == ["incidents"]  # no channel made
    # Each thread's head is its incident's summary, edited in place; nothing pinned in the team's channel.
    kept_until(settings, store, lambda: all(shared.messages[t]["edits"] for t in threads))
    heads = [shared.messages[t]["text"] for t in sorted(threads)]
    assert all("*Severity* P1" in h for h in heads) and not shared.pins


def test_a_start_without_what_the_rooms_need_is_refused_in_one_line(
    slack: SlackPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert rooms_ready(get_settings()) == "slack: a channel per incident in Warroom Test"
    slack.scopes = ("chat:write",)
    with pytest.raises(ChatError, match=r"lacks the scope\(s\) channels:manage, channels:read, pins:write"):
        rooms_ready(get_settings())
    slack.scopes = ("channels:read", "chat:write", "pins:write")
    monkeypatch.setenv("WARROOM_CHAT_SHARED_CHANNEL", "C404")
    get_settings.cache_clear()
    with pytest.raises(ChatError, match="channel_not_found"):
        rooms_ready(get_settings())
    monkeypatch.setenv("WARROOM_SLACK_TOKEN", "xoxb-not-the-token")
    get_settings.cache_clear()
    with pytest.raises(ChatError, match="invalid_auth") as refused:
        rooms_ready(get_settings())
    assert "xoxb-not-the-token" not in str(refused.value)
    monkeypatch.delenv("WARROOM_SLACK_TOKEN")
    get_settings.cache_clear()
    with pytest.raises(ChatError, match="set WARROOM_SLACK_TOKEN"):
        rooms_ready(get_settings())
    monkeypatch.setenv("WARROOM_CHAT_PROVIDER", "carrier-pigeon")
    get_settings.cache_clear()
    with pytest.raises(ChatError, match="no chat provider 'carrier-pigeon'"):
        rooms_ready(get_settings())


def test_no_provider_means_no_rooms_and_no_calls(store: Store) -> None:
    settings = get_settings()
    number = _incident(store, settings, "quiet")
    assert rooms_ready(settings) is None and keep_rooms(settings, store) == []
    assert store.room(number) is None


def _receiver_and_a_room(
    store: Store, monkeypatch: pytest.MonkeyPatch, title: str
) -> tuple[Settings, int, ChatRoom, Any]:
    """The receiver with the Slack app's signing secret, and a P1 whose room the keeper opened."""
    from warroom.intake.receiver import create_app
    from warroom.intake.router import Router

    monkeypatch.setenv("WARROOM_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    get_settings.cache_clear()
    settings = get_settings()
    number = _incident(store, settings, title)
    keep_rooms(settings, store)
    room = store.room(number)
    assert room is not None
    app = create_app(
        settings, store, Router(store, lambda: None, Severity.P3), slack_handlers(settings, store)
    )  # type: ignore[arg-type]
    return settings, number, room, app


def slack_handlers(settings: Settings, store: Store) -> Any:
    """The flows' side of Slack's requests, as `warroom up` composes the receiver."""
    from functools import partial

    from flows.chat_approval import answering
    from flows.chat_commands import handle
    from warroom.intake.slack_actions import SlackHandlers

    return SlackHandlers(answering(settings, store), partial(handle, settings=settings, store=store))


def test_a_p1_opened_behind_many_quiet_incidents_still_gets_its_room(slack: SlackPeer, store: Store) -> None:
    settings = get_settings()
    for i in range(410):  # open P3s, each with a plan that asks for no room
        _incident(store, settings, f"slow report {i}", Severity.P3)
    number = _incident(store, settings, "checkout down")
    keep_rooms(settings, store)
    assert store.room(number) is not None


def test_a_note_written_in_the_room_lands_on_the_timeline_once_under_its_authors_name(
    slack: SlackPeer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack's Events API into the receiver (`POST /slack/events`), signed as Slack signs."""
    from fastapi.testclient import TestClient

    settings, number, room, app = _receiver_and_a_room(store, monkeypatch, "checkout down")

    def notes() -> list[tuple[str, str]]:
        return [(e.actor, e.text) for e in store.timeline(number) if e.kind is EventKind.NOTE]

    with TestClient(app) as client:
        body, headers = signed_message(room.channel, "U0ALICE", "note: rolled back by hand", event_id="Ev1")
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200  # Slack's retry
        assert notes() == [("alice", "rolled back by hand")]
        for text, user, extra in (
            ("just chatting", "U0ALICE", {}),  # no prefix
            ("note: from a bot", "UBOT", {"bot_id": "BBOT"}),
            ("note: edited", "U0ALICE", {"subtype": "message_changed"}),
        ):
            body, headers = signed_message(room.channel, user, text, event_id=f"Ev-{text}", **extra)
            assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        body, headers = signed_message("C0ELSEWHERE", "U0ALICE", "note: wrong room", event_id="Ev2")
        assert client.post("/slack/events", content=body, headers=headers).status_code == 200
        body, headers = signed_message(room.channel, "U0NOBODY", "NOTE: seen from the store", event_id="Ev3")
        client.post("/slack/events", content=body, headers=headers)
        assert notes() == [("alice", "rolled back by hand"), ("slack:U0NOBODY", "seen from the store")]

        forged, headers = signed_message(room.channel, "U0ALICE", "note: forged", event_id="Ev4")
        bad = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
        assert client.post("/slack/events", content=forged, headers=bad).status_code == 401
        stale = {**headers, **signed(forged, at=time.time() - 600)}
        assert client.post("/slack/events", content=forged, headers=stale).status_code == 401
        assert len(notes()) == 2

        check = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
        answered = client.post("/slack/events", content=check, headers=signed(check))
        assert answered.status_code == 200 and answered.json() == {"challenge": "c-123"}
        garbled = b'{"type": "event_callback", "event": "not an object"}'
        refused = client.post("/slack/events", content=garbled, headers=signed(garbled))
        assert refused.status_code == 400 and "'event' must be an object" in refused.text
        assert store.payload(refused.json()["payload_id"]).body == garbled  # kept, as a bad alert is

    keep_rooms(settings, store)
    told = "\n".join(m["text"] for m in slack.channels[room.channel].messages.values())
    assert "rolled back by hand (alice)" in told  # the room sees it recorded


def test_the_warroom_slash_command_notes_tells_the_status_and_acknowledges_as_the_button_does(
    slack: SlackPeer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    _, number, room, app = _receiver_and_a_room(store, monkeypatch, "checkout <!here> down")

    def say(user: str, text: str, channel: str = room.channel) -> str:
        body, headers = signed_command(user, text, channel)
        answer = client.post("/slack/commands", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["response_type"] == "ephemeral"
        return str(answer.json()["text"])

    with TestClient(app) as client:
        assert say("U0BOB", "note restarted the canary") == f"Noted on INC-{number}."
        assert say("U0ALICE", "status").startswith(f"INC-{number} [P1] checkout &lt;!here&gt; down: detected")
        assert "no incident's room" in say("U0ALICE", "status", channel="C0ELSEWHERE")
        assert say("U0ALICE", f"status INC-{number}", channel="C0ELSEWHERE").startswith(f"INC-{number} [P1]")
        assert "in no on-call schedule" in say("U0NOBODY", "ack")
        assert say("U0ALICE", "ack") == f"INC-{number} acknowledged by alice; commander: alice"
        assert say("U0BOB", "ack") == f"INC-{number} was acknowledged before; commander: alice"
        assert "Not a Warroom command" in say("U0BOB", "deploy --force")
        body, headers = signed_command("U0BOB", "note forged", room.channel)
        forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
        assert client.post("/slack/commands", content=body, headers=forged).status_code == 401
    events = store.timeline(number)
    notes = [(e.actor, e.text) for e in events if e.kind is EventKind.NOTE]
    assert notes == [("bob", "restarted the canary")]
    incident = store.get(number)
    assert incident.roles.commander == "alice" and incident.acknowledged_at is not None
    assert [e.kind for e in events].count(EventKind.INCIDENT_ACKNOWLEDGED) == 1


def test_a_stalled_chat_service_never_holds_up_the_keepers_lease(
    slack: SlackPeer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack answering slowly (or a pass waiting out Retry-After) keeps the room's thread waiting, not the
    keeper's: its lease is renewed every pass, so no second keeper takes over a live one."""
    from deployments.keeper import LEASE, Keeper

    monkeypatch.setenv("WARROOM_KEEPER_POLL_SECONDS", "0.2")
    monkeypatch.setenv("WARROOM_LEASE_SECONDS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    _incident(store, settings, "slow slack")
    slack.stall = 4.0
    keeper = Keeper(store, settings)
    keeper.start()
    try:
        deadline = time.monotonic() + 30
        while store.lease_holder(LEASE) is None:
            assert time.monotonic() < deadline, "the keeper never took its lease"
            time.sleep(0.05)
        until = time.monotonic() + 3.0  # past the lease's 1 s, while the room's first call waits 4 s
        while time.monotonic() < until:
            assert store.lease_holder(LEASE) is not None, "the lease expired while Slack was slow"
            time.sleep(0.1)
    finally:
        keeper.stop()
        slack.stall = 0.0


def test_a_rate_limited_room_waits_for_a_later_pass_and_holds_up_no_other(
    slack: SlackPeer, store: Store
) -> None:
    """Slack allows one conversations.create a minute here: the first room is made and told in the first
    pass; the others wait for a later one, with nothing on their timelines saying chat failed."""
    slack.tiers["conversations.create"] = 1
    settings = get_settings()
    numbers = [_incident(store, settings, f"storm {i}") for i in range(3)]
    store.append(numbers[0], EventKind.NOTE, "rolled back the canary", actor="alice")
    done = keep_rooms(settings, store)
    assert [store.room(n) is not None for n in numbers] == [True, False, False]
    assert sum("waits" in line for line in done) == 2
    first = store.room(numbers[0])
    assert first is not None
    assert any("rolled back the canary" in m["text"] for m in slack.channels[first.channel].messages.values())
    for n in numbers:
        assert EventKind.CHAT_FAILED not in [e.kind for e in store.timeline(n)]
    assert slack.limited == ["conversations.create"]  # asked once, then rested for Slack's Retry-After


def test_in_a_storm_the_p1s_room_is_made_before_the_p2s_that_came_first(
    slack: SlackPeer, store: Store
) -> None:
    """Slack makes a few channels a minute (one here): the most severe incident's room comes first."""
    slack.tiers["conversations.create"] = 1
    settings = get_settings()
    earlier = [_incident(store, settings, f"slow checkout {i}", Severity.P2) for i in range(3)]
    p1 = _incident(store, settings, "checkout down")
    keep_rooms(settings, store)
    assert store.room(p1) is not None
    assert [store.room(n) for n in earlier] == [None, None, None]
