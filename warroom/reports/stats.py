"""Means, medians and 90th percentiles of durations, computed by the database: the rows are ranked with a
window function and the nearest-rank percentiles read off (the median of 1, 2, 3, 4 is 2; the p90 of ten
values is the ninth). Works the same on SQLite and PostgreSQL; nothing is fetched row by row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Select, cast, func, literal_column, or_, select


@dataclass(frozen=True)
class Stat:
    count: int
    mean: float | None  # seconds
    median: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_seconds": self.mean,
            "median_seconds": self.median,
            "p90_seconds": self.p90,
        }


NONE = Stat(0, None, None, None)


def nearest_rank(n: Any, percent: int) -> Any:
    """The rank of the ``percent``-th percentile among ``n`` values, ceil(percent/100 * n), in integer
    arithmetic that Python, SQLite and PostgreSQL do alike (``n`` a number or a SQL expression)."""
    return (n * percent + 99) // 100


def seconds(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, as this database computes it."""
    if dialect == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(func.extract("epoch", end - start), Float)


def stat(conn: Connection, durations: Select[Any]) -> Stat:
    """``durations``: a select of one column of seconds (NULLs left out)."""
    inner = durations.subquery()
    value = inner.c[0]
    ranked = (
        select(
            value.label("d"),
            func.row_number().over(order_by=value).label("rn"),
            func.count().over().label("n"),
            func.avg(value).over().label("mean"),
        )
        .where(value.is_not(None))
        .subquery()
    )
    at_50 = nearest_rank(ranked.c.n, 50)
    at_90 = nearest_rank(ranked.c.n, 90)
    rows = conn.execute(
        select(ranked.c.d, ranked.c.rn, ranked.c.n, ranked.c.mean).where(
            or_(ranked.c.rn == at_50, ranked.c.rn == at_90, ranked.c.rn == literal_column("1"))
        )
    ).all()
    if not rows:
        return NONE
    n = int(rows[0].n)
    by_rank = {int(r.rn): float(r.d) for r in rows}
    return Stat(
        n,
        round(float(rows[0].mean), 1),
        round(by_rank[nearest_rank(n, 50)], 1),
        round(by_rank[nearest_rank(n, 90)], 1),
    )
