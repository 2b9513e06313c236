"""Uptime per component per day, from what people published: a component is in the state a public incident's
update gave it from that update (the first from when the incident says it started) until the next update,
and back to operational at the resolving one. Two incidents on one component at once count the worse
state, once. A day's downtime is its minutes weighted by state (settings: a major outage fully, a partial
outage 30%)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from warroom.status.model import ComponentState, PublicState, StatusPost, worst

DAY = 86400.0


@dataclass(frozen=True)
class Span:
    component: str
    state: ComponentState
    start: datetime
    end: datetime
    incident: int


@dataclass(frozen=True)
class UptimeDay:
    day: date
    down_seconds: float  # weighted
    worst: ComponentState
    incidents: tuple[int, ...]

    @property
    def down_minutes(self) -> int:
        """Whole minutes, rounded up: a 40-second outage shows as a minute, never as none."""
        return int(-(-self.down_seconds // 60))


@dataclass(frozen=True)
class ComponentUptime:
    name: str
    days: tuple[UptimeDay, ...]

    @property
    def percent(self) -> float:
        down = sum(d.down_seconds for d in self.days)
        return 100.0 * (1 - down / (DAY * len(self.days))) if self.days else 100.0


def spans(posts: Iterable[StatusPost], until: datetime) -> list[Span]:
    """Each component's states over time, per public incident."""
    by_incident: dict[int, list[StatusPost]] = defaultdict(list)
    for post in posts:
        by_incident[post.incident].append(post)
    out: list[Span] = []
    for number, updates in by_incident.items():
        updates.sort(key=lambda p: p.id)
        for i, post in enumerate(updates):
            if post.state is PublicState.RESOLVED:
                break
            start = updates[0].started_at if i == 0 else post.posted_at
            end = updates[i + 1].posted_at if i + 1 < len(updates) else until
            for component, state in post.components.items():
                if end > start and state is not ComponentState.OPERATIONAL:
                    out.append(Span(component, state, start, end, number))
    return out


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def uptime(
    components: Iterable[str],
    posts: Iterable[StatusPost],
    *,
    today: date,
    days: int,
    weights: Mapping[ComponentState, float],
    until: datetime,
) -> list[ComponentUptime]:
    """The last ``days`` days (today last) for each component."""
    all_spans = spans(posts, until)
    first = today - timedelta(days=days - 1)
    result = []
    for name in components:
        mine = [s for s in all_spans if s.component == name]
        result.append(
            ComponentUptime(name, tuple(_day(first + timedelta(days=n), mine, weights) for n in range(days)))
        )
    return result


def _day(day: date, mine: list[Span], weights: Mapping[ComponentState, float]) -> UptimeDay:
    lo, hi = _day_start(day), _day_start(day + timedelta(days=1))
    inside = [s for s in mine if s.start < hi and s.end > lo]
    if not inside:
        return UptimeDay(day, 0.0, ComponentState.OPERATIONAL, ())
    cuts = sorted({lo, hi, *(max(s.start, lo) for s in inside), *(min(s.end, hi) for s in inside)})
    down = 0.0
    for a, b in pairwise(cuts):
        live = [s.state for s in inside if s.start <= a and s.end >= b]
        if live:
            down += (b - a).total_seconds() * weights.get(worst(live), 0.0)
    return UptimeDay(day, down, worst([s.state for s in inside]), tuple(sorted({s.incident for s in inside})))
