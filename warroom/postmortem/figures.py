"""The figures a post-mortem states, computed from the ledger, never typed: how long the incident lasted,
how long customers were affected, how long until someone took it, how long changes waited for approval,
which mitigations ran and who approved them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent

VERDICTS = (EventKind.APPROVAL_GRANTED, EventKind.APPROVAL_REJECTED, EventKind.APPROVAL_TIMED_OUT)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else None


def _proposal_of(event: TimelineEvent) -> str | None:
    """The mitigation an applied event is for: its ``proposal`` field, never a word of its text."""
    named = (event.data or {}).get("proposal")
    return str(named) if named else None


@dataclass(frozen=True)
class Mitigation:
    proposal: str
    text: str
    at: datetime
    approved_by: tuple[str, ...]


@dataclass(frozen=True)
class Figures:
    detected_at: datetime
    impact_started_at: datetime  # the alert's own start when it is earlier than detection
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    total: timedelta | None  # detected -> resolved
    impact: timedelta | None  # impact start -> mitigated
    to_acknowledge: timedelta | None
    waiting_for_approval: timedelta
    mitigations: tuple[Mitigation, ...] = field(default_factory=tuple)
    failed_mitigations: tuple[str, ...] = field(default_factory=tuple)
    failed_diagnostics: tuple[str, ...] = field(default_factory=tuple)
    pages: int = 0
    escalations: int = 0


def compute(incident: Incident, timeline: Sequence[TimelineEvent]) -> Figures:
    starts = [
        at
        for e in timeline
        if e.kind == EventKind.ALERT_FIRING
        and (at := _parse_time(((e.data or {}).get("alert") or {}).get("starts_at"))) is not None
    ]
    impact_start = min([incident.detected_at, *starts])
    asked: dict[str, datetime] = {}
    answered: dict[str, datetime] = {}
    granted: dict[str, list[str]] = {}
    for e in timeline:
        proposal = str((e.data or {}).get("proposal", ""))
        if e.kind == EventKind.APPROVAL_REQUESTED:
            asked.setdefault(proposal, e.at)
        elif e.kind in VERDICTS and proposal in asked:
            answered[proposal] = e.at  # the last verdict ends the wait (N of M: the Nth approval)
            if e.kind == EventKind.APPROVAL_GRANTED:
                granted.setdefault(proposal, []).append(e.actor)
    waiting = sum((answered[p] - asked[p] for p in answered), timedelta())
    mitigations = tuple(
        Mitigation(name, e.text, e.at, tuple(granted.get(name, ())))
        for e in timeline
        if e.kind == EventKind.MITIGATION_APPLIED and (name := _proposal_of(e))
    )
    return Figures(
        detected_at=incident.detected_at,
        impact_started_at=impact_start,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        total=incident.resolved_at - incident.detected_at if incident.resolved_at else None,
        impact=incident.mitigated_at - impact_start if incident.mitigated_at else None,
        to_acknowledge=incident.acknowledged_at - incident.detected_at if incident.acknowledged_at else None,
        waiting_for_approval=waiting,
        mitigations=mitigations,
        failed_mitigations=tuple(
            e.text for e in timeline if e.kind in (EventKind.MITIGATION_FAILED, EventKind.MITIGATION_PARTIAL)
        ),
        failed_diagnostics=tuple(e.text for e in timeline if e.kind == EventKind.DIAGNOSTIC_FAILED),
        pages=sum(1 for e in timeline if e.kind == EventKind.PAGE_SENT),
        escalations=sum(
            1 for e in timeline if e.kind in (EventKind.PAGE_ESCALATED, EventKind.APPROVAL_ESCALATED)
        ),
    )
