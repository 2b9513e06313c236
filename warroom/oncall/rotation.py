"""Who is on call when: handoffs at a local wall-clock time (so they follow daylight-saving changes), then
overrides, then leave. Pure functions of a schedule and a moment; nothing here reads a clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from warroom.oncall.model import Override, Schedule

Source = str  # "rotation", "override" or "cover" (someone on leave, the next member covers)


@dataclass(frozen=True)
class Shift:
    team: str
    layer: str
    person: str | None
    start: datetime  # UTC
    end: datetime  # UTC
    source: Source
    note: str = ""

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def _aware(value: datetime, schedule: Schedule) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=schedule.tz)).astimezone(UTC)


def handoff(schedule: Schedule, k: int) -> datetime:
    """The k-th handoff (0: the rotation's start) in UTC. A local time that does not exist on that day (a
    handoff inside the spring-forward gap) happens at the same wall time on the old offset, i.e. an hour
    later on the new clock; one that exists twice (fall back) happens the first time."""
    r = schedule.rotation
    day = r.start + timedelta(days=k * int(r.length.total_seconds() // 86400))
    local = datetime.combine(day, r.handoff.time, tzinfo=schedule.tz)
    return local.astimezone(UTC)


def shift_index(schedule: Schedule, at: datetime) -> int:
    """The k with handoff(k) <= at < handoff(k + 1)."""
    at = _aware(at, schedule)
    days = int(schedule.rotation.length.total_seconds() // 86400)
    start = datetime.combine(schedule.rotation.start, schedule.rotation.handoff.time)
    k = (at.astimezone(schedule.tz).replace(tzinfo=None) - start).days // days
    while handoff(schedule, k + 1) <= at:
        k += 1
    while handoff(schedule, k) > at:
        k -= 1
    return k


def _on_leave(schedule: Schedule, person: str, at: datetime) -> bool:
    local_day = at.astimezone(schedule.tz).date()
    return any(h.person == person and h.start <= local_day <= h.end for h in schedule.holidays)


def _override(overrides: Iterable[Override], schedule: Schedule, layer: str, at: datetime) -> Override | None:
    found = None
    for o in overrides:  # the last one written wins
        if o.layer == layer and _aware(o.start, schedule) <= at < _aware(o.end, schedule):
            found = o
    return found


def who(
    schedule: Schedule, layer: str, at: datetime, extra: Iterable[Override] = ()
) -> tuple[str | None, Source, str]:
    """Who holds ``layer`` at ``at``, where that comes from, and a note (the override's reason, who is
    covered)."""
    at = _aware(at, schedule)
    members = schedule.layer(layer).members
    o = _override([*schedule.overrides, *extra], schedule, layer, at)
    if o is not None:
        return o.person, "override", o.reason
    k = shift_index(schedule, at)
    scheduled = members[k % len(members)]
    if not _on_leave(schedule, scheduled, at):
        return scheduled, "rotation", ""
    # The next member not on leave covers, preferring one who holds no other layer by rotation just then.
    busy = {x.members[k % len(x.members)] for x in schedule.layers if x.name != layer}
    free = [
        members[(k + step) % len(members)]
        for step in range(1, len(members))
        if not _on_leave(schedule, members[(k + step) % len(members)], at)
    ]
    cover = next((p for p in free if p not in busy), free[0] if free else None)
    if cover is None:
        return None, "cover", f"everyone in {layer} is on leave"
    return cover, "cover", f"covers for {scheduled} (on leave)"


def _edges(schedule: Schedule, start: datetime, end: datetime, extra: Iterable[Override]) -> list[datetime]:
    edges = {start, end}
    k = shift_index(schedule, start)
    while (at := handoff(schedule, k)) < end:
        if at > start:
            edges.add(at)
        k += 1
    for o in [*schedule.overrides, *extra]:
        edges.update(_aware(t, schedule) for t in (o.start, o.end))
    for leave in schedule.holidays:
        for day in (leave.start, leave.end + timedelta(days=1)):
            edges.add(datetime.combine(day, time(0), tzinfo=schedule.tz).astimezone(UTC))
    return sorted(e for e in edges if start <= e <= end)


def shifts(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    extra: Iterable[Override] = (),
    layers: Iterable[str] = (),
) -> list[Shift]:
    """Every shift of the layers between ``start`` and ``end``: rotation, overrides and covers, cut at
    the range's ends, consecutive pieces of the same person and source merged."""
    start, end = _aware(start, schedule), _aware(end, schedule)
    extra = list(extra)
    edges = _edges(schedule, start, end, extra)
    out: list[Shift] = []
    for name in list(layers) or [x.name for x in schedule.layers]:
        pieces: list[Shift] = []
        for a, b in itertools.pairwise(edges):
            person, source, note = who(schedule, name, a, extra)
            last = pieces[-1] if pieces else None
            if last and (last.person, last.source, last.note) == (person, source, note):
                pieces[-1] = Shift(schedule.team, name, person, last.start, b, source, note)
            else:
                pieces.append(Shift(schedule.team, name, person, a, b, source, note))
        out += pieces
    return sorted(out, key=lambda s: (s.start, s.layer))
