"""Tasks opened in a tracker for an incident: what each one is (the incident, its review, an action item)
and the tracker's key and URL, so a re-run, a retried flow or a second resolve opens none twice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.ledger.engine import now, number_of
from warroom.ledger.timeline import Timeline
from warroom.schema import tracked_tasks


@dataclass(frozen=True)
class TrackedTask:
    ref: str  # "incident", "review" or "action:ID"
    tracker: str
    key: str
    url: str | None


class Tracking(Timeline):
    def tracked(self, ref: str | int, tracker: str) -> dict[str, TrackedTask]:
        with self._read() as conn:
            rows = conn.execute(
                select(tracked_tasks).where(
                    tracked_tasks.c.incident_number == number_of(ref), tracked_tasks.c.tracker == tracker
                )
            ).mappings()
            return {r["ref"]: TrackedTask(r["ref"], r["tracker"], r["key"], r["url"]) for r in rows}

    def record_tracked(self, ref: str | int, what: str, tracker: str, key: str, url: str | None) -> bool:
        """Remember a task the tracker made; False when one was recorded for it already."""
        number = number_of(ref)
        try:
            with self._write() as conn:
                conn.execute(
                    insert(tracked_tasks).values(
                        incident_number=number, ref=what, tracker=tracker, key=key, url=url, created_at=now()
                    )
                )
                self._append(
                    conn,
                    number,
                    EventKind.TRACKER_CREATED,
                    f"{tracker}: {what} tracked as {key}" + (f" ({url})" if url else ""),
                    actor="warroom",
                    data={"tracker": tracker, "ref": what, "key": key, "url": url},
                )
        except IntegrityError:
            return False
        return True
