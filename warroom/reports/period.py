"""The period a report covers (``--since 30d``, or ``--from``/``--to`` dates, UTC), and the one before it of
the same length, which every figure is set beside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from warroom.duration import format_duration, parse_duration


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        return Period(self.start - self.length, self.start)

    def words(self) -> str:
        return (
            f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC ({format_duration(self.length)})"
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def period_of(since: str | None, start: date | None, end: date | None, now: datetime) -> Period:
    """``since`` (``30d``, ``12w``) back from ``now``; or ``start`` to the end of ``end`` (either may be left
    out: then 30 days before the end, or up to now). ValueError naming what is wrong."""
    if since is not None and (start is not None or end is not None):
        raise ValueError("give --since or --from/--to, not both")
    if since is not None:
        length = parse_duration(since)
        if length <= timedelta(0):
            raise ValueError(f"--since {since!r} is not a length of time")
        return Period(now - length, now)
    finish = _midnight(end) + timedelta(days=1) if end is not None else now
    begin = _midnight(start) if start is not None else finish - timedelta(days=30)
    if begin >= finish:
        raise ValueError("--from must come before --to")
    return Period(begin, finish)
