"""The past brought to a new incident: the similar incidents before it (the same alert first, then the same
runbook on the same service, then the same service), what was done then and whether it worked, their
post-mortems and the action items they left open; and, for a proposed change, how it went last time
("last time: rollback approved by bob, recovered in 2m")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, false, or_, select

from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import Incident, Status, TimelineEvent
from warroom.ledger import Store
from warroom.schema import approval_gates, incidents


@dataclass(frozen=True)
class Change:
    proposal: str
    approved_by: tuple[str, ...]
    applied_at: datetime
    recovered_in: timedelta | None  # applied -> verified (else resolved); None when it did not hold


@dataclass(frozen=True)
class PastIncident:
    id: str
    title: str
    severity: str
    detected_at: datetime
    match: str  # "the same alert", "the same runbook on the same service", "the same service"
    resolved: bool
    changes: tuple[Change, ...]
    failed: tuple[str, ...]  # changes that failed or were partial
    postmortem_done: bool
    open_action_items: int

    def line(self) -> str:
        done = "; ".join(_change_words(c) for c in self.changes)
        if not done:
            done = "resolved by hand" if self.resolved else "nothing applied yet"
        failed = f"; {', '.join(self.failed)} failed" if self.failed else ""
        after = [
            "post-mortem done" if self.postmortem_done else "no post-mortem yet",
            *([f"{self.open_action_items} action item(s) still open"] if self.open_action_items else []),
        ]
        return (
            f"{self.id} ({self.severity}, {self.detected_at:%Y-%m-%d}, {self.match}): {done}{failed}; "
            + ", ".join(after)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": self.id,
            "match": self.match,
            "severity": self.severity,
            "detected_at": self.detected_at.isoformat(),
            "changes": [
                {
                    "proposal": c.proposal,
                    "approved_by": list(c.approved_by),
                    "recovered_seconds": c.recovered_in.total_seconds() if c.recovered_in else None,
                }
                for c in self.changes
            ],
            "failed": list(self.failed),
            "postmortem_done": self.postmortem_done,
            "open_action_items": self.open_action_items,
        }


def _change_words(c: Change) -> str:
    who = f" approved by {', '.join(c.approved_by)}" if c.approved_by else ""
    held = (
        f", recovered in {format_duration(c.recovered_in)}"
        if c.recovered_in is not None
        else ", did not hold"
    )
    return f"{c.proposal}{who}{held}"


def similar(store: Store, incident: Incident, limit: int = 5) -> list[PastIncident]:
    """The most similar incidents detected before this one, closest match first, then newest."""
    same_alert = incidents.c.dedup_key == incident.dedup_key if incident.dedup_key else false()
    same_runbook = (
        (incidents.c.runbook == incident.runbook) & (incidents.c.service == incident.service)
        if incident.runbook and incident.service
        else false()
    )
    same_service = incidents.c.service == incident.service if incident.service else false()
    rank: ColumnElement[int] = case((same_alert, 0), (same_runbook, 1), else_=2)
    with store._read() as conn:
        rows = conn.execute(
            select(incidents.c.number, rank.label("rank"))
            .where(
                incidents.c.number != incident.number,
                incidents.c.detected_at < incident.detected_at,
                or_(same_alert, same_runbook, same_service),
            )
            .order_by(rank, incidents.c.detected_at.desc())
            .limit(limit)
        ).all()
    matches = ("the same alert", "the same runbook on the same service", "the same service")
    return [_past(store, int(n), matches[int(r)]) for n, r in rows]


def _past(store: Store, number: int, match: str) -> PastIncident:
    past = store.get(number)
    timeline = store.timeline(number)
    return PastIncident(
        id=past.id,
        title=past.title,
        severity=past.severity.value,
        detected_at=past.detected_at,
        match=match,
        resolved=past.resolved_at is not None,
        changes=tuple(_changes(store, past, timeline)),
        failed=tuple(
            str(e.data.get("proposal") or "a change")
            for e in timeline
            if e.kind in (EventKind.MITIGATION_FAILED, EventKind.MITIGATION_PARTIAL)
        ),
        postmortem_done=past.status is Status.CLOSED,
        open_action_items=sum(1 for i in store.action_items(number) if i.status.value == "open"),
    )


def _changes(store: Store, past: Incident, timeline: list[TimelineEvent]) -> list[Change]:
    with store._read() as conn:
        granted = {
            str(p): tuple(str(x) for x in (g or []))
            for p, g in conn.execute(
                select(approval_gates.c.proposal, approval_gates.c.granted).where(
                    approval_gates.c.incident_number == past.number, approval_gates.c.state == "granted"
                )
            )
        }
    verified = [e.at for e in timeline if e.kind is EventKind.VERIFICATION_PASSED]
    failed_after = [e.at for e in timeline if e.kind is EventKind.VERIFICATION_FAILED]
    out = []
    for e in timeline:
        if e.kind is not EventKind.MITIGATION_APPLIED:
            continue
        proposal = str(e.data.get("proposal") or "a change")
        held_at = next((at for at in verified if at >= e.at), None) or past.resolved_at
        if any(at >= e.at and (held_at is None or at <= held_at) for at in failed_after):
            held_at = None
        out.append(Change(proposal, granted.get(proposal, ()), e.at, (held_at - e.at) if held_at else None))
    return out


def last_time(store: Store, incident: Incident, proposal: str) -> str | None:
    """How this proposal went the last time it was applied to a similar incident, in a line; None if never."""
    for past in similar(store, incident, limit=20):
        for change in reversed(past.changes):
            if change.proposal == proposal:
                return f"last time ({past.id}, {past.detected_at:%Y-%m-%d}): {_change_words(change)}"
    return None
