"""The anti-patterns of incident response, each raised with the incidents that raised it: a severe incident
resolved days ago without its post-mortem; action items past due; the same incident repeating; updates that
missed their cadence; one person commanding most incidents (hero culture, burnout); incidents nobody
triaged; severe incidents no runbook matched. Each is one SQL query over the period's incidents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from warroom.events import EventKind
from warroom.incident import Severity, incident_ref
from warroom.ledger import Store
from warroom.reports.figures import Filters
from warroom.reports.period import Period
from warroom.schema import action_items, incidents, pages, timeline_events
from warroom.severity import PostmortemPolicy, SeverityPolicy, policy_table

SEVERE = (Severity.P1.value, Severity.P2.value)
SHOWN = 50  # incidents named per warning (newest first); the count says how many in all
GROUPS = 20  # repeating incidents: the most repeated keys


@dataclass(frozen=True)
class Thresholds:
    postmortem_days: int = 5  # a required post-mortem not done this long after resolution
    repeats: int = 2  # this many incidents of one dedup key in the period
    service_repeats: int = 3  # this many of one runbook on one service in the period
    hero_share: float = 0.5  # one person commanding more than this share ...
    hero_minimum: int = 4  # ... of at least this many commanded incidents
    untriaged_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class AntiPattern:
    # postmortem_missing, action_items_overdue, repeating, repeating_service, updates_missed, hero, burnout,
    # untriaged, unmatched
    kind: str
    text: str
    incidents: tuple[str, ...]  # the newest SHOWN of them
    count: int  # how many incidents raised it


def warnings(
    store: Store,
    period: Period,
    at: datetime,
    filters: Filters = Filters(),
    policy: Mapping[Severity, SeverityPolicy] | None = None,
    limits: Thresholds = Thresholds(),
) -> list[AntiPattern]:
    owed = [lv.value for lv, p in policy_table(policy).items() if p.postmortem is PostmortemPolicy.REQUIRED]
    chosen = and_(
        incidents.c.detected_at >= period.start, incidents.c.detected_at < period.end, filters.where()
    )
    overdue_items = and_(
        action_items.c.incident_number == incidents.c.number,
        action_items.c.status == "open",
        action_items.c.due < at.date(),
    )
    missed = exists().where(
        # Correlated: the database reads each chosen incident's reminders by kind, never the whole timeline.
        timeline_events.c.incident_number == incidents.c.number,
        timeline_events.c.kind.in_([EventKind.UPDATE_DUE.value, EventKind.STATUS_DUE.value]),
    )
    simple = [
        (
            "postmortem_missing",
            and_(
                incidents.c.severity.in_(owed),
                incidents.c.resolved_at <= at - timedelta(days=limits.postmortem_days),
                incidents.c.closed_at.is_(None),
            ),
            f"incident(s) resolved {limits.postmortem_days}+ days ago without their required post-mortem",
        ),
        ("updates_missed", missed, "incident(s) went without an update past their cadence"),
        (
            "untriaged",
            and_(incidents.c.status == "detected", incidents.c.detected_at <= at - limits.untriaged_after),
            "incident(s) never triaged",
        ),
        (
            "unmatched",
            and_(incidents.c.severity.in_(SEVERE), incidents.c.runbook.is_(None)),
            "P1/P2 incident(s) matched no runbook",
        ),
    ]
    found: list[AntiPattern] = []
    with store._read() as conn:
        for kind, where, words in simple:
            count, shown = _numbers(conn, and_(chosen, where))
            if count:
                found.append(AntiPattern(kind, f"{count} {words}", shown, count))
        count, shown = _numbers(conn, and_(chosen, exists().where(overdue_items)))
        if count:
            items = conn.execute(
                select(func.count())
                .select_from(
                    action_items.join(incidents, incidents.c.number == action_items.c.incident_number)
                )
                .where(chosen, overdue_items)
            ).scalar_one()
            found.append(
                AntiPattern(
                    "action_items_overdue", f"{items} action item(s) past their due date", shown, count
                )
            )
        found += _repeating(conn, chosen, limits.repeats)
        found += _service_repeating(conn, chosen, limits.service_repeats)
        found += _paged(conn, chosen, limits)
        found += _hero(conn, chosen, limits)
    order = ["postmortem_missing", "action_items_overdue", "repeating", "repeating_service", "updates_missed"]
    order += ["hero", "burnout", "untriaged"]
    order.append("unmatched")
    return sorted(found, key=lambda w: order.index(w.kind))


def _numbers(conn: Connection, where: ColumnElement[bool]) -> tuple[int, tuple[str, ...]]:
    count = int(conn.execute(select(func.count()).select_from(incidents).where(where)).scalar_one())
    if not count:
        return 0, ()
    rows = conn.execute(
        select(incidents.c.number).where(where).order_by(incidents.c.number.desc()).limit(SHOWN)
    ).scalars()
    return count, tuple(incident_ref(n) for n in sorted(rows))


def _repeating(conn: Connection, where: ColumnElement[bool], least: int) -> list[AntiPattern]:
    """One warning for every alert that came back as a new incident ``least`` times or more: the most
    repeated keys named (the GROUPS most), their incidents listed."""
    times = func.count().label("times")
    repeated = (
        select(incidents.c.dedup_key, times)
        .where(where, incidents.c.dedup_key.is_not(None))
        .group_by(incidents.c.dedup_key)
        .having(func.count() >= least)
    )
    keys = int(conn.execute(select(func.count()).select_from(repeated.subquery())).scalar_one())
    if not keys:
        return []
    top = conn.execute(repeated.order_by(times.desc(), incidents.c.dedup_key).limit(GROUPS)).all()
    count, shown = _numbers(conn, and_(where, incidents.c.dedup_key.in_([k for k, _ in top])))
    named = ", ".join(f"{k} x{n}" for k, n in top[:5]) + (f" and {keys - 5} more" if keys > 5 else "")
    return [AntiPattern("repeating", f"{keys} alert(s) came back as new incidents: {named}", shown, count)]


def _hero(conn: Connection, where: ColumnElement[bool], limits: Thresholds) -> list[AntiPattern]:
    commander = incidents.c.roles["commander"].as_string()
    rows = conn.execute(
        select(commander, func.count()).where(where, commander.is_not(None)).group_by(commander)
    ).all()
    out = []
    for person, n, total in _most(rows, limits):
        count, shown = _numbers(conn, and_(where, commander == person))
        text = f"{person} commanded {n} of {total} incidents: share the load before it burns them out"
        out.append(AntiPattern("hero", text, shown, count))
    return out


def _service_repeating(conn: Connection, where: ColumnElement[bool], least: int) -> list[AntiPattern]:
    """The same runbook answering the same service's incidents again and again: the fix is not holding."""
    times = func.count().label("times")
    rows = conn.execute(
        select(incidents.c.runbook, incidents.c.service, times)
        .where(where, incidents.c.runbook.is_not(None), incidents.c.service.is_not(None))
        .group_by(incidents.c.runbook, incidents.c.service)
        .having(func.count() >= least)
        .order_by(times.desc(), incidents.c.service)
        .limit(GROUPS)
    ).all()
    if not rows:
        return []
    pairs = or_(*(and_(incidents.c.runbook == r, incidents.c.service == s) for r, s, _ in rows))
    count, shown = _numbers(conn, and_(where, pairs))
    named = ", ".join(f"{s} ({r}) x{n}" for r, s, n in rows[:5])
    named += f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    text = f"the same runbook keeps answering the same service: {named}"
    return [AntiPattern("repeating_service", text, shown, count)]


def _paged(conn: Connection, where: ColumnElement[bool], limits: Thresholds) -> list[AntiPattern]:
    """One person taking most of the pages: on-call burnout."""
    rows = conn.execute(
        select(pages.c.person, func.count())
        .select_from(pages.join(incidents, incidents.c.number == pages.c.incident_number))
        .where(where, pages.c.person.is_not(None))
        .group_by(pages.c.person)
    ).all()
    out = []
    for person, n, total in _most(rows, limits):
        paged = incidents.c.number.in_(select(pages.c.incident_number).where(pages.c.person == person))
        count, shown = _numbers(conn, and_(where, paged))
        text = f"{person} was paged {n} of {total} times: spread the rotation"
        out.append(AntiPattern("burnout", text, shown, count))
    return out


def _most(rows: Any, limits: Thresholds) -> list[tuple[str, int, int]]:
    """``(person, theirs, all)`` for whoever holds more than ``hero_share`` of at least ``hero_minimum``."""
    counted = [(str(person), int(n)) for person, n in rows]
    total = sum(n for _, n in counted)
    if total < limits.hero_minimum:
        return []
    return [(person, n, total) for person, n in counted if n / total > limits.hero_share]
