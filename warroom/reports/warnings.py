"""The anti-patterns of incident response, each raised with the incidents that raised it: a severe incident
resolved days ago without its post-mortem; action items past due; the same incident repeating; updates that
missed their cadence; one person commanding most incidents (hero culture, burnout); incidents nobody
triaged; severe incidents no runbook matched. Each is one SQL query over the period's incidents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, func, select

from warroom.events import EventKind
from warroom.incident import Severity, incident_ref
from warroom.ledger import Store
from warroom.reports.figures import Filters
from warroom.reports.period import Period
from warroom.schema import action_items, incidents, timeline_events
from warroom.severity import PostmortemPolicy, SeverityPolicy, policy_table

SEVERE = (Severity.P1.value, Severity.P2.value)


@dataclass(frozen=True)
class Thresholds:
    postmortem_days: int = 5  # a required post-mortem not done this long after resolution
    repeats: int = 2  # this many incidents of one dedup key in the period
    hero_share: float = 0.5  # one person commanding more than this share ...
    hero_minimum: int = 4  # ... of at least this many commanded incidents
    untriaged_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class AntiPattern:
    kind: (
        str  # postmortem_missing, action_items_overdue, repeating, updates_missed, hero, untriaged, unmatched
    )
    text: str
    incidents: tuple[str, ...]


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
    found: list[AntiPattern] = []
    with store._read() as conn:
        late = _numbers(
            conn,
            and_(
                chosen,
                incidents.c.severity.in_(owed),
                incidents.c.resolved_at <= at - timedelta(days=limits.postmortem_days),
                incidents.c.closed_at.is_(None),
            ),
        )
        if late:
            found.append(
                AntiPattern(
                    "postmortem_missing",
                    f"{len(late)} incident(s) resolved {limits.postmortem_days}+ days ago without their "
                    "required post-mortem",
                    late,
                )
            )
        overdue = conn.execute(
            select(action_items.c.incident_number, func.count())
            .select_from(action_items.join(incidents, incidents.c.number == action_items.c.incident_number))
            .where(chosen, action_items.c.status == "open", action_items.c.due < at.date())
            .group_by(action_items.c.incident_number)
            .order_by(action_items.c.incident_number)
        ).all()
        if overdue:
            found.append(
                AntiPattern(
                    "action_items_overdue",
                    f"{sum(n for _, n in overdue)} action item(s) past their due date",
                    tuple(incident_ref(i) for i, _ in overdue),
                )
            )
        for key, numbers in _repeating(conn, chosen, limits.repeats):
            found.append(AntiPattern("repeating", f"the same incident {len(numbers)} times ({key})", numbers))
        missed = _numbers(
            conn,
            and_(
                chosen,
                incidents.c.number.in_(
                    select(timeline_events.c.incident_number).where(
                        timeline_events.c.kind.in_([EventKind.UPDATE_DUE.value, EventKind.STATUS_DUE.value])
                    )
                ),
            ),
        )
        if missed:
            found.append(
                AntiPattern(
                    "updates_missed",
                    f"{len(missed)} incident(s) went without an update past their cadence",
                    missed,
                )
            )
        found += _hero(conn, chosen, limits)
        untriaged = _numbers(
            conn,
            and_(
                chosen,
                incidents.c.status == "detected",
                incidents.c.detected_at <= at - limits.untriaged_after,
            ),
        )
        if untriaged:
            found.append(AntiPattern("untriaged", f"{len(untriaged)} incident(s) never triaged", untriaged))
        unmatched = _numbers(
            conn, and_(chosen, incidents.c.severity.in_(SEVERE), incidents.c.runbook.is_(None))
        )
        if unmatched:
            found.append(
                AntiPattern("unmatched", f"{len(unmatched)} P1/P2 incident(s) matched no runbook", unmatched)
            )
    return found


def _numbers(conn: Connection, where: ColumnElement[bool]) -> tuple[str, ...]:
    rows = conn.execute(select(incidents.c.number).where(where).order_by(incidents.c.number)).scalars()
    return tuple(incident_ref(n) for n in rows)


def _repeating(conn: Connection, where: ColumnElement[bool], least: int) -> list[tuple[str, tuple[str, ...]]]:
    keys = (
        select(incidents.c.dedup_key)
        .where(where, incidents.c.dedup_key.is_not(None))
        .group_by(incidents.c.dedup_key)
        .having(func.count() >= least)
    )
    rows = conn.execute(
        select(incidents.c.dedup_key, incidents.c.number)
        .where(where, incidents.c.dedup_key.in_(keys))
        .order_by(incidents.c.dedup_key, incidents.c.number)
    ).all()
    grouped: dict[str, list[str]] = {}
    for key, number in rows:
        grouped.setdefault(str(key), []).append(incident_ref(number))
    return [(k, tuple(v)) for k, v in grouped.items()]


def _hero(conn: Connection, where: ColumnElement[bool], limits: Thresholds) -> list[AntiPattern]:
    commander = incidents.c.roles["commander"].as_string()
    rows = conn.execute(
        select(commander, func.count()).where(where, commander.is_not(None)).group_by(commander)
    ).all()
    total = sum(int(n) for _, n in rows)
    if total < limits.hero_minimum:
        return []
    out = []
    for person, n in rows:
        if int(n) / total > limits.hero_share:
            numbers = _numbers(conn, and_(where, commander == person))
            out.append(
                AntiPattern(
                    "hero",
                    f"{person} commanded {n} of {total} incidents: share the load before it burns them out",
                    numbers,
                )
            )
    return out
