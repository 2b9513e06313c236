"""The incident and what hangs off it: severity, status machine, roles, timeline events, action items."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from warroom.events import EventKind


class Severity(StrEnum):
    """P1 is the worst; policy for each level lives in ``warroom.severity``."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        return int(self.value[1])


class Status(StrEnum):
    DETECTED = "detected"
    TRIAGED = "triaged"
    INVESTIGATING = "investigating"
    MITIGATING = "mitigating"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Open incidents are the ones new alerts with the same dedup key attach to."""
        return self not in (Status.RESOLVED, Status.CLOSED)


# The forward path plus the ways back an incident really takes: a failed mitigation or verification
# returns to investigating; a resolved incident can be reopened until its post-mortem closes it.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DETECTED: frozenset({Status.TRIAGED, Status.RESOLVED}),
    Status.TRIAGED: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.MITIGATING, Status.MONITORING, Status.RESOLVED}),
    Status.MITIGATING: frozenset({Status.MONITORING, Status.INVESTIGATING, Status.RESOLVED}),
    Status.MONITORING: frozenset({Status.RESOLVED, Status.INVESTIGATING, Status.MITIGATING}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.INVESTIGATING}),
    Status.CLOSED: frozenset(),
}


class IllegalTransition(ValueError):
    """A status change the incident's state machine does not allow."""

    def __init__(self, incident: str, current: Status, wanted: Status) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (closed is final)"
        super().__init__(
            f"{incident}: cannot go from {current.value} to {wanted.value}; allowed from "
            f"{current.value}: {allowed}"
        )
        self.current = current
        self.wanted = wanted


def check_transition(incident: str, current: Status, wanted: Status) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> wanted`` is allowed."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(incident, current, wanted)


class Role(StrEnum):
    COMMANDER = "commander"
    RESPONDER = "responder"
    COMMS_LEAD = "comms_lead"
    SME = "sme"

    @property
    def single(self) -> bool:
        """Commander and comms lead are one person each; responders and SMEs are lists."""
        return self in (Role.COMMANDER, Role.COMMS_LEAD)


class Roles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commander: str | None = None
    comms_lead: str | None = None
    responders: list[str] = Field(default_factory=list)
    smes: list[str] = Field(default_factory=list)

    def with_assignment(self, role: Role, person: str) -> Roles:
        data = self.model_dump()
        if role is Role.COMMANDER:  # the commander holds no other role: it frees them to command
            data["commander"] = person
            data["responders"] = [p for p in data["responders"] if p != person]
            data["smes"] = [p for p in data["smes"] if p != person]
            if data["comms_lead"] == person:
                data["comms_lead"] = None
        elif role is Role.COMMS_LEAD:
            data["comms_lead"] = person
        else:
            key = "responders" if role is Role.RESPONDER else "smes"
            if person not in data[key]:
                data[key].append(person)
        return Roles.model_validate(data)


INCIDENT_ID = re.compile(r"^INC-(\d+)$")


def incident_ref(number: int) -> str:
    return f"INC-{number}"


def parse_incident_ref(ref: str) -> int:
    """``INC-42`` (or ``42``) -> 42; anything else is a clear ValueError."""
    m = INCIDENT_ID.match(ref.strip().upper())
    if m:
        return int(m.group(1))
    if ref.strip().isdigit():
        return int(ref.strip())
    raise ValueError(f"not an incident id: {ref!r} (expected INC-<number>)")


class TimelineEvent(BaseModel):
    """One entry on an incident's append-only timeline."""

    model_config = ConfigDict(frozen=True)

    id: int
    incident: str
    at: datetime
    kind: EventKind
    actor: str
    text: str
    data: dict[str, Any] = Field(default_factory=dict)
    key: str | None = Field(default=None, description="Idempotency key the event was recorded under")


class ActionItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ActionItem(BaseModel):
    id: int
    incident: str
    title: str
    owner: str | None = None
    due: date | None = None
    status: ActionItemStatus = ActionItemStatus.OPEN
    tracker_url: str | None = None
    created_at: datetime
    completed_at: datetime | None = None


class Incident(BaseModel):
    """An incident as the ledger holds it."""

    id: str
    number: int
    title: str
    service: str | None = None
    severity: Severity
    status: Status
    dedup_key: str | None = None
    runbook: str | None = None
    roles: Roles = Field(default_factory=Roles)
    detected_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_to_acknowledge_seconds(self) -> float | None:
        """Detected -> first acknowledged: the on-call response time (MTTA is its mean)."""
        if self.acknowledged_at is None:
            return None
        return round((self.acknowledged_at - self.detected_at).total_seconds(), 1)
