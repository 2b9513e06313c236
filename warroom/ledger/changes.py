"""Changes to an open incident: status along its state machine, severity, roles, acknowledgement.

Each change is one transaction with the timeline event that records it; a keyed change is done once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.incident import Incident, Role, Roles, Severity, Status, check_transition, incident_ref
from warroom.ledger.engine import StoreError, now, number_of
from warroom.ledger.incidents import Incidents, row_incident
from warroom.schema import incidents, pages


class Changes(Incidents):
    def set_status(
        self,
        ref: str | int,
        status: Status,
        *,
        actor: str = "warroom",
        text: str | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> Incident:
        """Move the incident along its state machine; illegal moves raise ``IllegalTransition``."""
        number = number_of(ref)
        status = Status(status)
        when = at or now()
        with self._write() as conn:
            row = self._require(conn, number)
            if key is not None and self._has_key(conn, number, key):
                return row_incident(row)
            current = Status(row["status"])
            check_transition(incident_ref(number), current, status)
            values: dict[str, Any] = {"status": status.value}
            if status in (Status.RESOLVED, Status.CLOSED):
                values["open_key"] = None
            elif not current.is_open:
                values["open_key"] = row["dedup_key"]  # reopened: it owns its key again
            if status is Status.MONITORING and row["mitigated_at"] is None:
                values["mitigated_at"] = when
            if status is Status.RESOLVED:
                values["resolved_at"] = when
                if row["mitigated_at"] is None:
                    values["mitigated_at"] = when
            if status is Status.CLOSED:
                values["closed_at"] = when
            try:
                changed = conn.execute(
                    update(incidents)
                    .where(incidents.c.number == number, incidents.c.status == current.value)
                    .values(**values)
                ).rowcount
            except IntegrityError:
                raise StoreError(
                    f"{incident_ref(number)} cannot be reopened: another incident is open for "
                    f"{row['dedup_key']!r}"
                ) from None
            if changed != 1:
                raise StoreError(f"{incident_ref(number)} changed while updating its status; try again")
            self._append(
                conn,
                number,
                EventKind.STATUS_CHANGED,
                text or f"status {current.value} -> {status.value}",
                actor=actor,
                data={"from": current.value, "to": status.value, **(data or {})},
                at=when,
                key=key,
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return row_incident(new)

    def set_severity(
        self,
        ref: str | int,
        level: Severity,
        *,
        actor: str = "warroom",
        reason: str = "",
        key: str | None = None,
    ) -> Incident:
        number = number_of(ref)
        level = Severity(level)
        with self._write() as conn:
            row = self._require(conn, number)
            if key is not None and self._has_key(conn, number, key):
                return row_incident(row)
            old = row["severity"]
            conn.execute(update(incidents).where(incidents.c.number == number).values(severity=level.value))
            text = f"severity {old} -> {level.value}" if old != level.value else f"severity {level.value}"
            self._append(
                conn,
                number,
                EventKind.SEVERITY_SET,
                f"{text}{': ' + reason if reason else ''}",
                actor=actor,
                data={"from": old, "to": level.value, "reason": reason},
                key=key,
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return row_incident(new)

    def assign_role(self, ref: str | int, role: Role, person: str, *, actor: str = "warroom") -> Incident:
        number = number_of(ref)
        role = Role(role)
        with self._write() as conn:
            row = self._require(conn, number)
            roles = Roles.model_validate(row["roles"] or {}).with_assignment(role, person)
            conn.execute(
                update(incidents).where(incidents.c.number == number).values(roles=roles.model_dump())
            )
            self._append(
                conn,
                number,
                EventKind.ROLE_ASSIGNED,
                f"{role.value.replace('_', ' ')}: {person}",
                actor=actor,
                data={"role": role.value, "person": person},
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return row_incident(new)

    def acknowledge(self, ref: str | int, *, actor: str, at: datetime | None = None) -> Incident:
        """A human has taken the incident; the first acknowledgement sets the MTTA clock."""
        number = number_of(ref)
        with self._write() as conn:
            row = self._require(conn, number)
            if row["acknowledged_at"] is None:
                when = at or now()
                conn.execute(
                    update(incidents).where(incidents.c.number == number).values(acknowledged_at=when)
                )
                self._append(
                    conn,
                    number,
                    EventKind.INCIDENT_ACKNOWLEDGED,
                    f"acknowledged by {actor}",
                    actor=actor,
                    at=when,
                )
                conn.execute(  # whoever acknowledges, the pages stop
                    update(pages)
                    .where(pages.c.incident_number == number, pages.c.state == "open")
                    .values(state="acknowledged", closed_at=when)
                )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return row_incident(new)
