"""The figures of a period, each one SQL aggregate over the incidents detected in it (filtered by
severity, service and runbook): counts by severity and runbook; time to acknowledge (detected -> first
acknowledgement), to mitigate (-> first change applied) and to resolve (-> resolved; open incidents left
out) as mean, median and p90; customer-impact minutes (detected -> mitigated, else resolved, else now); time
waiting at approval gates beside the rest of the time to mitigate; the changes proposed and how they ended;
how many resolved by an approved change rather than by hand; post-mortems owed (the level's policy) and done
(the incident closed); the period's action items."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, and_, case, exists, func, or_, select, true

from warroom.events import EventKind
from warroom.incident import Severity
from warroom.ledger import Store, now
from warroom.reports.period import Period
from warroom.reports.stats import NONE, Stat, seconds, stat
from warroom.schema import action_items, approval_gates, incidents, pages, timeline_events
from warroom.severity import PostmortemPolicy, SeverityPolicy, policy_table


@dataclass(frozen=True)
class Filters:
    severity: Severity | None = None
    service: str | None = None
    runbook: str | None = None
    # A team's incidents: those of its runbooks (the catalogue says whose a runbook is; the ledger keeps the
    # runbook's name). An empty tuple is a team with no runbooks: no incidents.
    runbooks: tuple[str, ...] | None = None

    def where(self) -> ColumnElement[bool]:
        terms: list[ColumnElement[bool]] = [true()]
        if self.severity is not None:
            terms.append(incidents.c.severity == self.severity.value)
        if self.service is not None:
            terms.append(incidents.c.service == self.service)
        if self.runbook is not None:
            terms.append(incidents.c.runbook == self.runbook)
        if self.runbooks is not None:
            terms.append(incidents.c.runbook.in_(self.runbooks))
        return and_(*terms)


@dataclass(frozen=True)
class Figures:
    period: Period
    incidents: int
    open: int
    by_severity: dict[str, int]
    by_runbook: dict[str, int]  # "(none)": no runbook matched
    to_acknowledge: Stat
    to_mitigate: Stat
    to_resolve: Stat
    impact_minutes: float
    approval_wait_minutes: float  # gates open, summed
    machine_minutes: float  # detected -> mitigated, less the waits at gates, summed
    changes: dict[str, int]  # proposed, approved, rejected, timed_out, applied, failed, partial
    resolved_by_change: int
    resolved_by_hand: int
    postmortems_owed: int
    postmortems_done: int
    action_items: dict[str, float] = field(default_factory=dict)
    postmortem_after: Stat = NONE  # resolved -> closed (the review done), of the owed ones done
    oncall: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # person: pages, night_pages, acknowledged

    @property
    def automation_rate(self) -> float | None:
        resolved = self.resolved_by_change + self.resolved_by_hand
        return round(self.resolved_by_change / resolved, 3) if resolved else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["period"] = {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()}
        for name in ("to_acknowledge", "to_mitigate", "to_resolve", "postmortem_after"):
            out[name] = getattr(self, name).as_dict()
        out["automation_rate"] = self.automation_rate
        return out


def figures(
    store: Store,
    period: Period,
    filters: Filters = Filters(),
    policy: Mapping[Severity, SeverityPolicy] | None = None,
    at: datetime | None = None,
) -> Figures:
    at = at or now()
    table = policy_table(policy)
    owed_levels = [lv.value for lv, p in table.items() if p.postmortem is PostmortemPolicy.REQUIRED]
    chosen = and_(
        incidents.c.detected_at >= period.start, incidents.c.detected_at < period.end, filters.where()
    )
    dialect = store.dialect
    with store._read() as conn:
        return Figures(
            period=period,
            incidents=_count(conn, chosen),
            open=_count(conn, and_(chosen, incidents.c.resolved_at.is_(None))),
            by_severity=_grouped(conn, incidents.c.severity, chosen),
            by_runbook=_grouped(conn, func.coalesce(incidents.c.runbook, "(none)"), chosen),
            to_acknowledge=_stat(conn, dialect, incidents.c.acknowledged_at, chosen),
            to_mitigate=_stat(conn, dialect, incidents.c.mitigated_at, chosen),
            to_resolve=_stat(conn, dialect, incidents.c.resolved_at, chosen),
            impact_minutes=_impact(conn, dialect, chosen, at),
            approval_wait_minutes=_waits(conn, dialect, chosen),
            machine_minutes=_machine(conn, dialect, chosen),
            changes=_changes(conn, chosen),
            resolved_by_change=_resolved(conn, chosen, by_change=True),
            resolved_by_hand=_resolved(conn, chosen, by_change=False),
            postmortems_owed=_count(
                conn,
                and_(chosen, incidents.c.resolved_at.is_not(None), incidents.c.severity.in_(owed_levels)),
            ),
            postmortems_done=_count(
                conn, and_(chosen, incidents.c.closed_at.is_not(None), incidents.c.severity.in_(owed_levels))
            ),
            action_items=_action_items(conn, dialect, chosen, at),
            postmortem_after=stat(
                conn,
                select(seconds(dialect, incidents.c.resolved_at, incidents.c.closed_at)).where(
                    chosen, incidents.c.closed_at.is_not(None), incidents.c.severity.in_(owed_levels)
                ),
            ),
            oncall=_oncall(conn, dialect, chosen),
        )


def _count(conn: Connection, where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(incidents).where(where)).scalar_one())


def _grouped(conn: Connection, key: Any, where: ColumnElement[bool]) -> dict[str, int]:
    rows = conn.execute(select(key, func.count()).where(where).group_by(key).order_by(key)).all()
    return {str(k): int(n) for k, n in rows}


def _stat(conn: Connection, dialect: str, end: Any, where: ColumnElement[bool]) -> Stat:
    return stat(conn, select(seconds(dialect, incidents.c.detected_at, end)).where(where, end.is_not(None)))


def _minutes(conn: Connection, query: Any) -> float:
    value = conn.execute(query).scalar()
    return round(float(value or 0.0) / 60.0, 1)


def _impact(conn: Connection, dialect: str, where: ColumnElement[bool], at: datetime) -> float:
    ended = func.coalesce(incidents.c.mitigated_at, incidents.c.resolved_at, at)
    return _minutes(conn, select(func.sum(seconds(dialect, incidents.c.detected_at, ended))).where(where))


def _waits(conn: Connection, dialect: str, where: ColumnElement[bool]) -> float:
    return _minutes(
        conn,
        select(func.sum(seconds(dialect, approval_gates.c.opened_at, approval_gates.c.closed_at)))
        .select_from(approval_gates.join(incidents, incidents.c.number == approval_gates.c.incident_number))
        .where(where, approval_gates.c.closed_at.is_not(None)),
    )


def _machine(conn: Connection, dialect: str, where: ColumnElement[bool]) -> float:
    mitigated = and_(where, incidents.c.mitigated_at.is_not(None))
    total = _minutes(
        conn,
        select(func.sum(seconds(dialect, incidents.c.detected_at, incidents.c.mitigated_at))).where(
            mitigated
        ),
    )
    # The waits before the change was made: a gate after it (another proposal) is not in this time.
    waited = _waits(conn, dialect, and_(mitigated, approval_gates.c.closed_at <= incidents.c.mitigated_at))
    return round(max(0.0, total - waited), 1)


_KINDS = {
    EventKind.MITIGATION_APPLIED: "applied",
    EventKind.MITIGATION_FAILED: "failed",
    EventKind.MITIGATION_PARTIAL: "partial",
}


def _changes(conn: Connection, where: ColumnElement[bool]) -> dict[str, int]:
    gates = conn.execute(
        select(approval_gates.c.state, func.count())
        .select_from(approval_gates.join(incidents, incidents.c.number == approval_gates.c.incident_number))
        .where(where)
        .group_by(approval_gates.c.state)
    ).all()
    by_state = {str(s): int(n) for s, n in gates}
    done = conn.execute(
        select(timeline_events.c.kind, func.count())
        .select_from(timeline_events.join(incidents, incidents.c.number == timeline_events.c.incident_number))
        .where(where, timeline_events.c.kind.in_([k.value for k in _KINDS]))
        .group_by(timeline_events.c.kind)
    ).all()
    by_kind = {_KINDS[EventKind(k)]: int(n) for k, n in done}
    return {
        "proposed": sum(by_state.values()),
        "approved": by_state.get("granted", 0),
        "rejected": by_state.get("rejected", 0),
        "timed_out": by_state.get("timed_out", 0),
        **{name: by_kind.get(name, 0) for name in _KINDS.values()},
    }


def _resolved(conn: Connection, where: ColumnElement[bool], *, by_change: bool) -> int:
    changed = exists().where(
        timeline_events.c.incident_number == incidents.c.number,
        timeline_events.c.kind == EventKind.MITIGATION_APPLIED.value,
    )
    return _count(conn, and_(where, incidents.c.resolved_at.is_not(None), changed if by_change else ~changed))


def _action_items(
    conn: Connection, dialect: str, where: ColumnElement[bool], at: datetime
) -> dict[str, float]:
    mine = action_items.join(incidents, incidents.c.number == action_items.c.incident_number)
    row = conn.execute(
        select(
            func.count(),
            func.sum(case((action_items.c.status == "done", 1), else_=0)),
            func.sum(case((action_items.c.status == "open", 1), else_=0)),
            func.sum(
                case((and_(action_items.c.status == "open", action_items.c.due < at.date()), 1), else_=0)
            ),
        )
        .select_from(mine)
        .where(where)
    ).one()
    total, done, open_, overdue = (int(v or 0) for v in row)
    ages = stat(
        conn,
        select(seconds(dialect, action_items.c.created_at, at))
        .select_from(mine)
        .where(where, action_items.c.status == "open"),
    )
    return {
        "total": total,
        "done": done,
        "open": open_,
        "overdue": overdue,
        "completion_rate": round(done / total, 3) if total else 0.0,
        "open_median_age_days": round((ages.median or 0.0) / 86400, 1) if ages is not NONE else 0.0,
    }


NIGHT = (22, 7)  # pages from 22:00 to 06:59 UTC count as night pages


def _hour(dialect: str, column: Any) -> ColumnElement[int]:
    if dialect == "sqlite":
        return func.cast(func.strftime("%H", column), Integer)
    return func.cast(func.extract("hour", column), Integer)


def _oncall(conn: Connection, dialect: str, where: ColumnElement[bool]) -> dict[str, dict[str, int]]:
    """Per person: pages, pages at night (UTC), and incidents they acknowledged."""
    hour = _hour(dialect, pages.c.paged_at)
    night = or_(hour >= NIGHT[0], hour < NIGHT[1])
    people: dict[str, dict[str, int]] = {}
    for person, paged, nights in conn.execute(
        select(pages.c.person, func.count(), func.sum(case((night, 1), else_=0)))
        .select_from(pages.join(incidents, incidents.c.number == pages.c.incident_number))
        .where(where, pages.c.person.is_not(None))
        .group_by(pages.c.person)
    ):
        people[str(person)] = {"pages": int(paged), "night_pages": int(nights or 0), "acknowledged": 0}
    for person, n in conn.execute(
        select(timeline_events.c.actor, func.count(func.distinct(timeline_events.c.incident_number)))
        .select_from(timeline_events.join(incidents, incidents.c.number == timeline_events.c.incident_number))
        .where(where, timeline_events.c.kind == EventKind.INCIDENT_ACKNOWLEDGED.value)
        .group_by(timeline_events.c.actor)
    ):
        people.setdefault(str(person), {"pages": 0, "night_pages": 0, "acknowledged": 0})["acknowledged"] = (
            int(n)
        )
    return dict(sorted(people.items(), key=lambda kv: (-kv[1]["pages"], -kv[1]["acknowledged"], kv[0])))
