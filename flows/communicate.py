"""The incident's room, kept by `warroom up`'s keeper: opened for an incident whose communication plan asks
for one, the people holding roles and the on-call invited, its topic and pinned summary kept current, and
every event a responder needs posted as it happens.

A pass never blocks a run: the flows only write the timeline, and the room reads it. A pass posts at most
one message per room (the events since the last one, coalesced), so with the keeper polling every second or
more a room stays within Slack's one message per second per channel, and a burst of events is one message.
When the chat service fails, the room keeps its place on the timeline and the next pass tells it again:
nothing is lost, and the outage is on the timeline once (``chat.failed``), its end once (``chat.restored``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.chat_asks import post_ask, settle_asks
from tasks.chat import ChatError, ChatProvider, ChatSettings, Room, chat_provider
from warroom.chat.cadence import cadence_of, remind, reminders_due
from warroom.chat.messages import POSTED, coalesce, line, opening, summary, topic
from warroom.chat.naming import channel_name, given_name
from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent
from warroom.ledger import ChatRoom, Store, now
from warroom.oncall.current import chat_ids, on_call
from warroom.settings import Settings

NAME_ATTEMPTS = 5  # inc-42-x, inc-42-x-2, ... before the room is given up as a name clash


def rooms_ready(settings: Settings) -> str | None:
    """At start-up: where the rooms will be (None when they are off); ChatError naming what to set when
    the chat service cannot make them (no token, a token without the scopes, an unknown shared channel)."""
    provider = chat_provider(settings)
    return None if provider is None else provider.check(settings)


def keep_rooms(settings: Settings, store: Store) -> list[str]:
    """One pass over the rooms; what it did, a line each (for the keeper's log). Nothing when no chat
    provider is configured."""
    provider = chat_provider(settings)
    if provider is None:
        return []
    done: list[str] = []
    for plan in store.wanting_rooms():
        done += _open(provider, settings, store, plan)
    rooms = store.rooms_open()
    if rooms:
        chat_ids = _chat_ids_of_the_on_call(settings, store)  # once a pass, not once a room
        for room in rooms:
            done += _tell(provider, settings, store, room, chat_ids)
    return done


def _open(provider: ChatProvider, settings: Settings, store: Store, plan: TimelineEvent) -> list[str]:
    incident = store.get(plan.incident)
    chat = settings.of(ChatSettings)
    wanted = str(plan.data.get("channel") or "")
    room: Room | None = None
    try:
        for attempt in range(1, NAME_ATTEMPTS + 1):
            name = (
                given_name(wanted) + (f"-{attempt}" if attempt > 1 else "")
                if wanted
                else channel_name(incident.number, incident.title, prefix=chat.prefix, attempt=attempt)
            )
            try:
                room = provider.open_room(name, opening(incident), settings)
                break
            except ChatError as exc:
                if not exc.taken or attempt == NAME_ATTEMPTS:
                    raise
    except ChatError as exc:
        if exc.later is not None:  # Slack's rate limit (a storm of rooms): made on a later pass
            return [f"{incident.id}: room waits {exc.later:.0f}s for the chat service's rate limit"]
        store.append(
            incident.number,
            EventKind.CHAT_FAILED,
            f"the incident's room could not be made: {exc}; tried again every pass",
            data={"error": str(exc)},
            key="chat:open-failed",
        )
        return [f"{incident.id}: no room yet: {exc}"]
    assert room is not None
    store.add_room(
        incident.number,
        provider=provider.name,
        channel=room.channel,
        name=room.name,
        thread=room.thread,
        link=room.link,
    )
    return [f"{incident.id}: room #{room.name}" + (" (a thread)" if room.thread else "")]


def _tell(
    provider: ChatProvider, settings: Settings, store: Store, kept: ChatRoom, chat_ids: _ChatIds
) -> list[str]:
    incident = store.get(kept.incident_number)
    room = Room(kept.channel, kept.name, kept.thread)
    timeline = store.timeline(incident.number)  # read once: the new events, the cadence, what is being done
    told: list[str] = []
    try:
        # What people need first: the events (each channel has its own posting limit); then the
        # invitations, the topic and the summary, whose methods Slack limits across the workspace.
        _remind(store, incident, timeline, chat_ids)
        events = [e for e in timeline if e.id > kept.posted_through]
        told += _post(provider, settings, store, room, events, kept, incident, timeline)
        told += settle_asks(provider, settings, store, room, incident, timeline)
        told = _invite(provider, settings, store, room, kept, incident, chat_ids) + told
        cadence = cadence_of(incident, timeline)
        shown = topic(incident, cadence.next_due if cadence else None)
        if shown != kept.topic:
            provider.set_topic(room, shown, settings)
            store.room_told(incident.number, topic=shown)
        _summarise(provider, settings, store, room, kept, incident, timeline)
    except ChatError as exc:
        if exc.later is not None:  # rate-limited: the rest waits for a later pass; nothing has failed
            return [f"{incident.id}: #{kept.name}: {what}" for what in told]
        if store.room_failing(incident.number, str(exc)):
            return [f"{incident.id}: room #{kept.name} failing: {exc}"]
        return []
    if kept.failing_since is not None:
        store.room_restored(incident.number)
    return [f"{incident.id}: #{kept.name}: {what}" for what in told]


@dataclass(frozen=True)
class _ChatIds:
    by_person: dict[str, str]  # each person's chat id, from the schedules' people
    on_call: frozenset[str]  # who holds a layer of the default team now


def _chat_ids_of_the_on_call(settings: Settings, store: Store) -> _ChatIds:
    by_person = chat_ids(settings)
    now_on_call = {
        p
        for name, holders in on_call(settings, store).items()
        if "/" not in name  # the default team's layers (every team's are listed as TEAM/LAYER too)
        for p in holders
    }
    return _ChatIds(by_person, frozenset(now_on_call))


def _invite(
    provider: ChatProvider,
    settings: Settings,
    store: Store,
    room: Room,
    kept: ChatRoom,
    incident: Incident,
    chat_ids: _ChatIds,
) -> list[str]:
    """The people holding roles and the on-call now, by their schedules' chat ids, invited once each."""
    people = {*incident.roles.responders, *incident.roles.smes, *chat_ids.on_call}
    people.update(p for p in (incident.roles.commander, incident.roles.comms_lead) if p)
    ids = {p: i for p, i in chat_ids.by_person.items() if p in people}
    new = sorted(i for i in ids.values() if i not in kept.invited)
    if not new:
        return []
    provider.invite(room, new, settings)
    store.room_told(incident.number, invited=sorted({*kept.invited, *new}))
    return [f"invited {', '.join(sorted(p for p, i in ids.items() if i in new))}"]


def _post(
    provider: ChatProvider,
    settings: Settings,
    store: Store,
    room: Room,
    events: list[TimelineEvent],
    kept: ChatRoom,
    incident: Incident,
    timeline: list[TimelineEvent],
) -> list[str]:
    """The first message's worth of events since the room was last told (one message a pass). An approval
    request is a message of its own, with its buttons."""
    ask = next((i for i, e in enumerate(events) if e.kind is EventKind.APPROVAL_REQUESTED), None)
    if ask is not None:
        before = [e for e in events[:ask] if line(e) is not None]
        if not before:
            said = post_ask(provider, settings, store, room, incident, events[ask], timeline)
            store.room_told(kept.incident_number, posted_through=events[ask].id)
            return [said]
        events = events[:ask]
    lines = [(text, e.id) for e in events if (text := line(e)) is not None]
    messages = coalesce(lines)
    if not messages:
        if events:  # nothing a person needs: the room is told up to here all the same
            store.room_told(kept.incident_number, posted_through=events[-1].id)
        return []
    text, through = messages[0]
    provider.post(room, text, settings)
    if len(messages) == 1:
        through = events[-1].id  # and the events after the last posted one that the room does not need
    store.room_told(kept.incident_number, posted_through=through)
    return [f"posted {text.count(chr(10)) + 1} event(s)"]


def _summarise(
    provider: ChatProvider,
    settings: Settings,
    store: Store,
    room: Room,
    kept: ChatRoom,
    incident: Incident,
    timeline: list[TimelineEvent],
) -> None:
    """The pinned summary: posted and pinned once, edited in place when what it says changes (in a shared
    channel, the incident's thread head)."""
    doing = next((e.text for e in reversed(timeline) if e.kind in POSTED), None)
    chat = settings.of(ChatSettings)
    links = {"Prefect UI": chat.ui_url.rstrip("/") + "/runs"} if chat.ui_url else {}
    text = summary(incident, doing, links)
    if kept.thread is not None:
        # In a shared channel the thread's head is the summary, edited in place: a summary of its own would
        # spend the channel's one message a second that every incident's thread shares, and pins are the
        # channel's, not one incident's.
        if text != kept.summary:
            provider.edit(room, kept.thread, text, settings)
            store.room_told(incident.number, summary_ts=kept.thread, summary=text, pinned=True)
        return
    message = kept.summary_ts
    if message is None:
        message = provider.post(room, text, settings)
        store.room_told(incident.number, summary_ts=message, summary=text)  # posted once, whatever follows
    elif text != kept.summary:
        provider.edit(room, message, text, settings)
        store.room_told(incident.number, summary=text)
    if not kept.pinned:
        provider.pin(room, message, settings)
        store.room_told(incident.number, pinned=True)


def _remind(store: Store, incident: Incident, timeline: list[TimelineEvent], chat_ids: _ChatIds) -> None:
    """The reminders the cadence owes, on the timeline (the room is told them as every other event)."""
    for due in reminders_due(incident, timeline, now()):
        every = format_duration(due.cadence.every)
        who = due.person or "nobody holds the role"
        if due.level == 1:
            text = (
                f"no stakeholder update for {every} (due {due.cadence.next_due:%H:%M} UTC): {who}, "
                "post one with `/warroom update TEXT`"
            )
        else:
            late = format_duration(due.late_by)
            text = f"no stakeholder update for {late}, twice the cadence: {who}, as commander"
        remind(store, incident, EventKind.UPDATE_DUE, due, text, chat_ids.by_person.get(due.person or ""))
