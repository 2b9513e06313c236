"""The incident timeline: append-only events, optionally keyed so that recording a fact twice is a no-op.

Triggers in the database refuse to update or delete an event; keys are unique per incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, RowMapping, insert, select
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.incident import TimelineEvent, incident_ref
from warroom.ledger.engine import Database, NotFound, now, number_of, utc
from warroom.redact import redact, redact_text
from warroom.schema import incidents, timeline_events

# Built once: an insert with its values in the statement is coerced and keyed again on every call, which
# was a large part of routing an alert (bench/intake.py).
_INSERT_EVENT = insert(timeline_events).returning(timeline_events.c.id)


def row_event(row: RowMapping) -> TimelineEvent:
    return TimelineEvent(
        id=row["id"],
        incident=incident_ref(row["incident_number"]),
        at=utc(row["at"]),
        kind=row["kind"],
        actor=row["actor"],
        text=row["text"],
        data=row["data"] or {},
        key=row["event_key"],
    )


class Timeline(Database):
    """Events on incidents; every other part of the ledger records its changes through ``_append``."""

    def append(
        self,
        ref: str | int,
        kind: EventKind,
        text: str,
        *,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> TimelineEvent:
        """Add an event. With ``key``, recording the same fact again returns the first event unchanged."""
        number = number_of(ref)
        try:
            with self._write() as conn:
                return self._append(conn, number, kind, text, actor=actor, data=data, at=at, key=key)
        except IntegrityError:
            if key is not None:  # a concurrent recording of the same fact won the race
                with self._read() as conn:
                    row = (
                        conn.execute(
                            select(timeline_events).where(
                                timeline_events.c.incident_number == number,
                                timeline_events.c.event_key == key,
                            )
                        )
                        .mappings()
                        .first()
                    )
                if row is not None:
                    return row_event(row)
            # Otherwise the foreign key refused it: there is no such incident.
            raise NotFound(f"no incident {incident_ref(number)}") from None

    def _append(
        self,
        conn: Connection,
        number: int,
        kind: EventKind,
        text: str,
        *,
        actor: str,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> TimelineEvent:
        kind = EventKind(kind)  # a kind outside the vocabulary is refused before anything is written
        if key is not None:
            existing = self._event_keyed(conn, number, key)
            if existing is not None:
                return existing
        values = {
            "incident_number": number,
            "at": at or now(),
            "kind": kind,
            "actor": actor,
            "text": redact_text(text),
            "data": redact(to_jsonable_python(data or {})),
            "event_key": key,
        }
        event_id = conn.execute(_INSERT_EVENT, values).scalar_one()
        return row_event({**values, "id": event_id})  # type: ignore[arg-type]

    def _event_keyed(self, conn: Connection, number: int, key: str) -> TimelineEvent | None:
        row = (
            conn.execute(
                select(timeline_events).where(
                    timeline_events.c.incident_number == number, timeline_events.c.event_key == key
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else row_event(row)

    def timeline(self, ref: str | int) -> list[TimelineEvent]:
        """The incident's events in the order they were recorded."""
        number = number_of(ref)
        with self._read() as conn:
            self._require(conn, number)
            rows = conn.execute(
                select(timeline_events)
                .where(timeline_events.c.incident_number == number)
                .order_by(timeline_events.c.id)
            ).mappings()
            return [row_event(r) for r in rows]

    def event_by_key(self, ref: str | int, key: str) -> TimelineEvent | None:
        """The event recorded under ``key`` on this incident, if any."""
        with self._read() as conn:
            row = (
                conn.execute(
                    select(timeline_events).where(
                        timeline_events.c.incident_number == number_of(ref),
                        timeline_events.c.event_key == key,
                    )
                )
                .mappings()
                .first()
            )
        return row_event(row) if row else None

    def events_keyed(self, ref: str | int, prefix: str) -> list[TimelineEvent]:
        """Events whose key starts with ``prefix``, in recorded order."""
        with self._read() as conn:
            rows = conn.execute(
                select(timeline_events)
                .where(
                    timeline_events.c.incident_number == number_of(ref),
                    timeline_events.c.event_key.startswith(prefix, autoescape=True),
                )
                .order_by(timeline_events.c.id)
            ).mappings()
            return [row_event(r) for r in rows]

    def _require(self, conn: Connection, number: int) -> RowMapping:
        row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_ref(number)}")
        return row

    def _has_key(self, conn: Connection, number: int, key: str) -> bool:
        return (
            conn.execute(
                select(timeline_events.c.id).where(
                    timeline_events.c.incident_number == number, timeline_events.c.event_key == key
                )
            ).first()
            is not None
        )
