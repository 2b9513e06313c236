"""An incident's room in chat, as the ledger keeps it: which channel (or thread), the pinned summary and
topic as last set, how far along the timeline the room was told, and whether the chat service is failing it.

The room is a reader of the timeline: a post that fails leaves ``posted_through`` where it was, so the next
pass tells the room the same events again and nothing is lost; the failure itself is on the timeline once
per outage (``chat.failed``), and the recovery once (``chat.restored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.incident import TimelineEvent
from warroom.ledger.engine import now, number_of, utc
from warroom.ledger.timeline import Timeline, row_event
from warroom.schema import chat_rooms, incidents, timeline_events


@dataclass(frozen=True)
class ChatRoom:
    incident_number: int
    provider: str
    channel: str
    name: str
    thread: str | None
    summary_ts: str | None
    pinned: bool
    summary: str | None
    topic: str | None
    posted_through: int
    invited: tuple[str, ...]
    opened_at: datetime
    failing_since: datetime | None
    last_error: str | None


def _room(row: Any) -> ChatRoom:
    return ChatRoom(
        incident_number=row["incident_number"],
        provider=row["provider"],
        channel=row["channel"],
        name=row["name"],
        thread=row["thread"],
        summary_ts=row["summary_ts"],
        pinned=bool(row["pinned"]),
        summary=row["summary"],
        topic=row["topic"],
        posted_through=row["posted_through"],
        invited=tuple(row["invited"] or ()),
        opened_at=utc(row["opened_at"]) or now(),
        failing_since=utc(row["failing_since"]) if row["failing_since"] else None,
        last_error=row["last_error"],
    )


class ChatRooms(Timeline):
    def room(self, ref: str | int) -> ChatRoom | None:
        with self._read() as conn:
            row = (
                conn.execute(select(chat_rooms).where(chat_rooms.c.incident_number == number_of(ref)))
                .mappings()
                .first()
            )
        return None if row is None else _room(row)

    def room_at(self, channel: str, thread: str | None) -> ChatRoom | None:
        """The room a message in ``channel`` (in ``thread``) belongs to: the incident's own channel, or its
        thread in a shared one."""
        with self._read() as conn:
            rows = conn.execute(select(chat_rooms).where(chat_rooms.c.channel == channel)).mappings().all()
        for row in rows:
            if row["thread"] is None or row["thread"] == thread:
                return _room(row)
        return None

    def rooms_open(self) -> list[ChatRoom]:
        """The rooms of incidents not yet closed, and of closed ones the room has not been told the end of."""
        with self._read() as conn:
            last = (
                select(timeline_events.c.id)
                .where(timeline_events.c.incident_number == chat_rooms.c.incident_number)
                .order_by(timeline_events.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            rows = conn.execute(
                select(chat_rooms)
                .join(incidents, incidents.c.number == chat_rooms.c.incident_number)
                .where((incidents.c.status != "closed") | (chat_rooms.c.posted_through < last))
                .order_by(chat_rooms.c.incident_number)
            ).mappings()
            return [_room(r) for r in rows]

    def wanting_rooms(self, limit: int = 100) -> list[TimelineEvent]:
        """The newest communication plan of each open incident that asks for a room and has none yet, the
        most severe first (Slack makes 20 channels a minute: in a storm a P1's room must not wait behind
        P2s), then the oldest. Every plan of the open incidents without a room is read: a plan's wish is in
        its JSON data, and a cap on rows would hide a new P1 behind the old P3s that want none."""
        with self._read() as conn:
            rows = conn.execute(
                select(timeline_events, incidents.c.severity.label("level"))
                .join(incidents, incidents.c.number == timeline_events.c.incident_number)
                .outerjoin(chat_rooms, chat_rooms.c.incident_number == timeline_events.c.incident_number)
                .where(
                    timeline_events.c.kind == EventKind.COMMUNICATION_PLANNED.value,
                    chat_rooms.c.incident_number.is_(None),
                    incidents.c.status.notin_(("resolved", "closed")),
                )
                .order_by(timeline_events.c.id)
            ).mappings()
            newest: dict[int, tuple[str, TimelineEvent]] = {}
            for r in rows:
                newest[r["incident_number"]] = (str(r["level"]), row_event(r))
        wanted = sorted(((level, number), e) for number, (level, e) in newest.items() if e.data.get("room"))
        return [e for _, e in wanted][:limit]

    def add_room(
        self, ref: str | int, *, provider: str, channel: str, name: str, thread: str | None, link: str | None
    ) -> ChatRoom | None:
        """Record the room just made (told nothing yet) and put it on the timeline; None if it has one."""
        number = number_of(ref)
        try:
            with self._write() as conn:
                conn.execute(
                    insert(chat_rooms).values(
                        incident_number=number,
                        provider=provider,
                        channel=channel,
                        name=name,
                        thread=thread,
                        posted_through=0,
                        invited=[],
                        opened_at=now(),
                    )
                )
                where = f"a thread in #{name}" if thread else f"#{name}"
                self._append(
                    conn,
                    number,
                    EventKind.CHAT_OPENED,
                    f"{provider}: the incident's room is {where}" + (f" ({link})" if link else ""),
                    actor="warroom",
                    data={
                        "provider": provider,
                        "channel": channel,
                        "name": name,
                        "thread": thread,
                        "link": link,
                    },
                )
        except IntegrityError:
            return None
        return self.room(number)

    def room_told(self, ref: str | int, **changes: Any) -> None:
        """What the room shows now: ``posted_through``, ``summary_ts``, ``pinned``, ``summary``, ``topic``,
        ``invited``."""
        allowed = {"posted_through", "summary_ts", "pinned", "summary", "topic", "invited"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not a room field: {sorted(unknown)}")
        with self._write() as conn:
            conn.execute(
                update(chat_rooms).where(chat_rooms.c.incident_number == number_of(ref)).values(**changes)
            )

    def room_failing(self, ref: str | int, error: str) -> bool:
        """The chat service failed this room; True (and ``chat.failed`` on the timeline) when it was not
        failing already: an outage is written once, however many posts it stops."""
        number = number_of(ref)
        with self._write() as conn:
            began = conn.execute(
                update(chat_rooms)
                .where(chat_rooms.c.incident_number == number, chat_rooms.c.failing_since.is_(None))
                .values(failing_since=now(), last_error=error)
            ).rowcount
            if not began:
                conn.execute(
                    update(chat_rooms).where(chat_rooms.c.incident_number == number).values(last_error=error)
                )
                return False
            self._append(
                conn,
                number,
                EventKind.CHAT_FAILED,
                f"the incident's room cannot be told: {error}; retried every pass, nothing is lost",
                actor="warroom",
                data={"error": error},
            )
        return True

    def room_restored(self, ref: str | int) -> bool:
        """The chat service answers this room again; True (and ``chat.restored``) after a failure."""
        number = number_of(ref)
        with self._write() as conn:
            row = (
                conn.execute(select(chat_rooms.c.failing_since).where(chat_rooms.c.incident_number == number))
                .mappings()
                .first()
            )
            if row is None or row["failing_since"] is None:
                return False
            conn.execute(
                update(chat_rooms)
                .where(chat_rooms.c.incident_number == number)
                .values(failing_since=None, last_error=None)
            )
            down = (now() - (utc(row["failing_since"]) or now())).total_seconds()
            self._append(
                conn,
                number,
                EventKind.CHAT_RESTORED,
                f"the incident's room is told again after {down:.0f} s; what happened meanwhile is posted",
                actor="warroom",
                data={"down_seconds": round(down, 1)},
            )
        return True
