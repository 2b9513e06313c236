"""A period week by week, for the charts: incidents by severity, the median times to acknowledge and to
resolve, minutes waiting at approval gates beside machine time, and the action items left open at each week's
end. Each is grouped by the database (weeks start on Monday, UTC); medians are nearest-rank per week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from warroom.ledger import Store
from warroom.reports.figures import Filters
from warroom.reports.period import Period
from warroom.reports.stats import nearest_rank, seconds
from warroom.schema import action_items, approval_gates, incidents


@dataclass
class Week:
    start: date
    by_severity: dict[str, int] = field(default_factory=dict)
    ack_median: float | None = None  # seconds
    resolve_median: float | None = None
    waiting_minutes: float = 0.0
    machine_minutes: float = 0.0
    open_items: int = 0  # action items open at the week's end


def week_of(dialect: str, column: Any) -> ColumnElement[Any]:
    """The Monday a timestamp's week starts on, as YYYY-MM-DD."""
    if dialect == "sqlite":
        return func.date(column, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc("week", column), "YYYY-MM-DD")


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks(store: Store, period: Period, filters: Filters = Filters()) -> list[Week]:
    chosen = and_(
        incidents.c.detected_at >= period.start, incidents.c.detected_at < period.end, filters.where()
    )
    first, last = _monday(period.start.date()), _monday((period.end - timedelta(microseconds=1)).date())
    out = {
        first + timedelta(weeks=n): Week(first + timedelta(weeks=n))
        for n in range((last - first).days // 7 + 1)
    }
    dialect = store.dialect
    week = week_of(dialect, incidents.c.detected_at)
    with store._read() as conn:
        for key, level, n in conn.execute(
            select(week, incidents.c.severity, func.count())
            .where(chosen)
            .group_by(week, incidents.c.severity)
        ):
            out[date.fromisoformat(str(key))].by_severity[str(level)] = int(n)
        for key, median in _medians(conn, dialect, week, incidents.c.acknowledged_at, chosen):
            out[key].ack_median = median
        for key, median in _medians(conn, dialect, week, incidents.c.resolved_at, chosen):
            out[key].resolve_median = median
        gates = approval_gates.join(incidents, incidents.c.number == approval_gates.c.incident_number)
        for key, waited in conn.execute(
            select(week, func.sum(seconds(dialect, approval_gates.c.opened_at, approval_gates.c.closed_at)))
            .select_from(gates)
            .where(chosen, approval_gates.c.closed_at.is_not(None))
            .group_by(week)
        ):
            out[date.fromisoformat(str(key))].waiting_minutes = round(float(waited or 0) / 60, 1)
        for key, total in conn.execute(
            select(week, func.sum(seconds(dialect, incidents.c.detected_at, incidents.c.mitigated_at)))
            .where(chosen, incidents.c.mitigated_at.is_not(None))
            .group_by(week)
        ):
            w = out[date.fromisoformat(str(key))]
            w.machine_minutes = round(max(0.0, float(total or 0) / 60 - w.waiting_minutes), 1)
        for w in out.values():
            w.open_items = _open_at(conn, chosen, _end_of(w.start))
    return list(out.values())


def _end_of(monday: date) -> datetime:
    return datetime.combine(monday + timedelta(days=7), time.min, tzinfo=UTC)


def _open_at(conn: Connection, chosen: ColumnElement[bool], at: datetime) -> int:
    """The period's action items that were open at ``at``: made by then, not yet done."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(action_items.join(incidents, incidents.c.number == action_items.c.incident_number))
            .where(
                chosen,
                action_items.c.created_at < at,
                or_(action_items.c.completed_at.is_(None), action_items.c.completed_at >= at),
                action_items.c.status != "cancelled",
            )
        ).scalar_one()
    )


def _medians(
    conn: Connection, dialect: str, week: Any, end: Any, where: ColumnElement[bool]
) -> list[tuple[date, float]]:
    d = seconds(dialect, incidents.c.detected_at, end)
    ranked = (
        select(
            week.label("week"),
            d.label("d"),
            func.row_number().over(partition_by=week, order_by=d).label("rn"),
            func.count().over(partition_by=week).label("n"),
        )
        .where(where, end.is_not(None))
        .subquery()
    )
    rows = conn.execute(
        select(ranked.c.week, ranked.c.d).where(ranked.c.rn == nearest_rank(ranked.c.n, 50))
    ).all()
    return [(date.fromisoformat(str(k)), round(float(v), 1)) for k, v in rows]
