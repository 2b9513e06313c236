"""Pages and on-call overrides in the ledger: who was paged for an incident at which step of the escalation
path, until when they have to acknowledge, and the overrides made from the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.ledger.engine import StoreError, now, number_of, utc
from warroom.ledger.timeline import Timeline
from warroom.schema import incidents, oncall_overrides, pages


class PageState(StrEnum):
    OPEN = "open"  # waiting for an acknowledgement until due_at
    ACKNOWLEDGED = "acknowledged"  # someone took the incident
    ESCALATED = "escalated"  # nobody did in time: the next step was paged
    EXHAUSTED = "exhausted"  # nobody did, and the path had no next step


@dataclass(frozen=True)
class Page:
    id: int
    incident_number: int
    step: int
    target: str
    person: str | None
    paged_at: datetime
    due_at: datetime
    state: PageState
    closed_at: datetime | None


@dataclass(frozen=True)
class OverrideRecord:
    id: int
    team: str
    layer: str
    person: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancelled_why: str | None = None

    @property
    def effective_end(self) -> datetime:
        """When it stops putting its person on call: its end, or its cancellation if sooner."""
        if self.cancelled_at is None:
            return self.ends_at
        return max(self.starts_at, min(self.ends_at, self.cancelled_at))


def _override(r: RowMapping) -> OverrideRecord:
    return OverrideRecord(
        r["id"],
        r["team"],
        r["layer"],
        r["person"],
        utc(r["starts_at"]),  # type: ignore[arg-type]
        utc(r["ends_at"]),  # type: ignore[arg-type]
        r["reason"],
        r["created_by"],
        utc(r["cancelled_at"]),
        r["cancelled_by"],
        r["cancelled_why"],
    )


def _page(row: RowMapping) -> Page:
    return Page(
        row["id"],
        row["incident_number"],
        row["step"],
        row["target"],
        row["person"],
        utc(row["paged_at"]),  # type: ignore[arg-type]
        utc(row["due_at"]),  # type: ignore[arg-type]
        PageState(row["state"]),
        utc(row["closed_at"]),
    )


class Paging(Timeline):
    def add_override(
        self, team: str, layer: str, person: str, start: datetime, end: datetime, reason: str, by: str
    ) -> OverrideRecord:
        values = {
            "team": team,
            "layer": layer,
            "person": person,
            "starts_at": start,
            "ends_at": end,
            "reason": reason,
            "created_by": by,
            "created_at": now(),
        }
        with self._write() as conn:
            new_id = conn.execute(
                insert(oncall_overrides).values(**values).returning(oncall_overrides.c.id)
            ).scalar_one()
        return OverrideRecord(new_id, team, layer, person, utc(start), utc(end), reason, by)  # type: ignore[arg-type]

    def overrides(
        self, team: str, ending_after: datetime | None = None, *, cancelled: bool = False
    ) -> list[OverrideRecord]:
        """The team's overrides in effect after ``ending_after`` (oldest first, so a later one wins where
        they overlap); with ``cancelled``, the cancelled ones too, as history."""
        query = select(oncall_overrides).where(oncall_overrides.c.team == team)
        if ending_after is not None:
            query = query.where(oncall_overrides.c.ends_at > ending_after)
        with self._read() as conn:
            rows = conn.execute(query.order_by(oncall_overrides.c.id)).mappings().all()
        found = [_override(r) for r in rows]
        if cancelled:
            return found
        after = ending_after
        return [
            o for o in found if o.effective_end > o.starts_at and (after is None or o.effective_end > after)
        ]

    def cancel_override(self, override_id: int, by: str, why: str) -> OverrideRecord:
        """Stop an override from now on (one not begun never counts); its row is kept, with who and why."""
        at = now()
        with self._write() as conn:
            row = (
                conn.execute(select(oncall_overrides).where(oncall_overrides.c.id == override_id))
                .mappings()
                .first()
            )
            if row is None:
                raise StoreError(f"no override {override_id}")
            if row["cancelled_at"] is not None:
                raise StoreError(f"override {override_id} was cancelled by {row['cancelled_by']} already")
            if utc(row["ends_at"]) <= at:  # type: ignore[operator]
                raise StoreError(f"override {override_id} ended already: there is nothing to cancel")
            conn.execute(
                update(oncall_overrides)
                .where(oncall_overrides.c.id == override_id)
                .values(cancelled_at=at, cancelled_by=by, cancelled_why=why)
            )
            new = (
                conn.execute(select(oncall_overrides).where(oncall_overrides.c.id == override_id))
                .mappings()
                .one()
            )
        return _override(new)

    def open_page(
        self,
        ref: str | int,
        step: int,
        target: str,
        person: str | None,
        due_at: datetime,
        text: str,
        at: datetime | None = None,
    ) -> Page | None:
        """Record step ``step`` of the incident's escalation as paged; None when it was recorded before
        (a re-entered run, a second pager loop: each step is paged once) or the incident is acknowledged."""
        number = number_of(ref)
        at = at or now()
        try:
            with self._write() as conn:
                if self._require(conn, number)["acknowledged_at"] is not None:
                    return None  # taken meanwhile (an escalation racing an acknowledgement): wake nobody
                page_id = conn.execute(
                    insert(pages)
                    .values(
                        incident_number=number,
                        step=step,
                        target=target,
                        person=person,
                        paged_at=at,
                        due_at=due_at,
                        state=PageState.OPEN.value,
                    )
                    .returning(pages.c.id)
                ).scalar_one()
                data = {"step": step, "target": target, "person": person, "due_at": due_at.isoformat()}
                self._append(conn, number, EventKind.PAGE_SENT, text, actor="warroom", data=data, at=at)
        except IntegrityError:
            return None
        return Page(page_id, number, step, target, person, at, due_at, PageState.OPEN, None)

    def pages(self, ref: str | int) -> list[Page]:
        with self._read() as conn:
            rows = conn.execute(
                select(pages).where(pages.c.incident_number == number_of(ref)).order_by(pages.c.step)
            ).mappings()
            return [_page(r) for r in rows]

    def pages_since(self, since: datetime) -> list[Page]:
        with self._read() as conn:
            rows = conn.execute(select(pages).where(pages.c.paged_at >= since).order_by(pages.c.paged_at))
            return [_page(r) for r in rows.mappings()]

    def due_pages(self, at: datetime | None = None) -> list[Page]:
        """Open pages past their due time (an acknowledgement closes an incident's pages as it is made)."""
        query = (
            select(pages)
            .join(incidents, incidents.c.number == pages.c.incident_number)
            .where(
                pages.c.state == PageState.OPEN.value,
                pages.c.due_at <= (at or now()),
                incidents.c.status.notin_(["resolved", "closed"]),  # resolved already: nobody to wake
            )
            .order_by(pages.c.due_at)
        )
        with self._read() as conn:
            return [_page(r) for r in conn.execute(query).mappings()]

    def close_page(self, page: Page, state: PageState, text: str) -> bool:
        """Move an open page to ``state``; False when another process closed it first."""
        at = now()
        with self._write() as conn:
            changed = conn.execute(
                update(pages)
                .where(pages.c.id == page.id, pages.c.state == PageState.OPEN.value)
                .values(state=state.value, closed_at=at)
            ).rowcount
            if changed:
                kind = EventKind.PAGE_ESCALATED if state is PageState.ESCALATED else EventKind.PAGE_EXHAUSTED
                self._append(
                    conn, page.incident_number, kind, text, actor="warroom", data={"step": page.step}, at=at
                )
        return bool(changed)
