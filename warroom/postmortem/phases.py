"""The incident's phases, from its timeline, for its picture: waiting for someone to take it, investigating,
each wait at an approval gate, each change being made, verifying, and the rest until resolved. Each phase is
a span with a start and an end; a phase that never ended runs until the incident resolved (or now)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent

VERDICTS = (EventKind.APPROVAL_GRANTED, EventKind.APPROVAL_REJECTED, EventKind.APPROVAL_TIMED_OUT)
CHANGED = (EventKind.MITIGATION_APPLIED, EventKind.MITIGATION_FAILED, EventKind.MITIGATION_PARTIAL)
VERIFIED = (EventKind.VERIFICATION_PASSED, EventKind.VERIFICATION_FAILED)


@dataclass(frozen=True)
class Phase:
    label: str
    kind: str  # waiting, investigating, approval, change, verifying, resolving
    start: datetime
    end: datetime


def phases(incident: Incident, timeline: Sequence[TimelineEvent], at: datetime) -> list[Phase]:
    end = incident.resolved_at or at
    out: list[Phase] = []
    taken = incident.acknowledged_at
    if taken and taken > incident.detected_at:
        out.append(Phase("until someone took it", "waiting", incident.detected_at, taken))
    started = next((e.at for e in timeline if e.kind in (EventKind.RUN_STARTED, EventKind.TRIAGED)), None)
    proposed = next((e.at for e in timeline if e.kind is EventKind.MITIGATION_PROPOSED), None)
    if started:
        out.append(Phase("investigating", "investigating", started, proposed or end))
    for e in timeline:
        if e.kind is EventKind.APPROVAL_REQUESTED:
            what = str(e.data.get("proposal") or "a change")
            done = next((v.at for v in timeline if v.kind in VERDICTS and v.at >= e.at), end)
            out.append(Phase(f"waiting for approval of {what}", "approval", e.at, done))
        elif e.kind is EventKind.MITIGATION_STARTED:
            what = str(e.data.get("proposal") or "a change")
            done = next((c.at for c in timeline if c.kind in CHANGED and c.at >= e.at), end)
            out.append(Phase(f"{what} being made", "change", e.at, done))
    applied = [e.at for e in timeline if e.kind is EventKind.MITIGATION_APPLIED]
    if applied:
        checked = next((v.at for v in timeline if v.kind in VERIFIED and v.at >= applied[-1]), None)
        if checked:
            out.append(Phase("verifying", "verifying", applied[-1], checked))
    last = max((p.end for p in out), default=incident.detected_at)
    if incident.resolved_at and incident.resolved_at > last:
        out.append(Phase("until resolved", "resolving", last, incident.resolved_at))
    return [p for p in out if p.end >= p.start]
