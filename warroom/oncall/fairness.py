"""On-call load over a period, per person: pages (and how many came off-hours in their own time zone),
incidents commanded, hours on call; with a warning when one person carries far more than the rest (hero
culture) or is woken too often (burnout)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from warroom.incident import Incident
from warroom.ledger import Page
from warroom.oncall.rotation import Shift

WORK_START, WORK_END = time(8, 0), time(20, 0)  # outside these hours, or at a weekend, a page is off-hours
HERO_FACTOR = 2.0  # pages at least this many times the median of the others …
HERO_MIN_PAGES = 5  # … and at least this many
OFF_HOURS_PER_WEEK = 2.0  # more off-hours pages than this per week of the period is a burnout warning


@dataclass
class Load:
    person: str
    pages: int = 0
    off_hours: int = 0
    commanded: int = 0
    hours_on_call: float = 0.0
    warnings: list[str] = field(default_factory=list)


def off_hours(at: datetime, zone: ZoneInfo) -> bool:
    local = at.astimezone(zone)
    return local.weekday() >= 5 or not (WORK_START <= local.time() < WORK_END)


def load_report(
    pages: Iterable[Page],
    incidents: Iterable[Incident],
    shifts: Iterable[Shift],
    zones: Mapping[str, ZoneInfo],
    default_zone: ZoneInfo,
    period: timedelta,
) -> list[Load]:
    """Per person, busiest first."""
    found: dict[str, Load] = {}

    def of(person: str) -> Load:
        return found.setdefault(person, Load(person))

    for page in pages:
        if page.person:
            row = of(page.person)
            row.pages += 1
            row.off_hours += off_hours(page.paged_at, zones.get(page.person, default_zone))
    for incident in incidents:
        if incident.roles.commander:
            of(incident.roles.commander).commanded += 1
    for shift in shifts:
        if shift.person:
            of(shift.person).hours_on_call += shift.hours
    weeks = max(period.total_seconds() / (7 * 86400), 1 / 7)
    for row in found.values():
        others = [r.pages for r in found.values() if r is not row and r.pages]
        typical = statistics.median(others) if others else 0
        if row.pages >= HERO_MIN_PAGES and (not others or row.pages >= HERO_FACTOR * typical):
            row.warnings.append(
                f"hero: {row.pages} pages against a median of {typical:g} for the others; share the load"
            )
        if row.off_hours / weeks > OFF_HOURS_PER_WEEK:
            row.warnings.append(
                f"burnout: {row.off_hours} pages off-hours ({row.off_hours / weeks:.1f} a week, more than "
                f"{OFF_HOURS_PER_WEEK:g}); look at the alerts that wake people"
            )
    return sorted(found.values(), key=lambda r: (-r.pages, -r.hours_on_call, r.person))
