"""Incidents: opened once per dedup key (the database lets one insert win), found, listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.incident import Incident, Roles, Severity, Status, incident_ref
from warroom.ledger.engine import NotFound, StoreError, now, number_of, utc
from warroom.ledger.timeline import Timeline
from warroom.redact import redact_text
from warroom.schema import incidents

# Built once: every alert the receiver takes looks for its open incident.
_OPEN_BY_KEY = select(incidents).where(incidents.c.open_key == bindparam("key"))


@dataclass(frozen=True)
class Opened:
    """What ``open_or_attach`` did: the incident, and whether this call created it."""

    incident: Incident
    created: bool


def row_incident(row: RowMapping) -> Incident:
    return Incident(
        id=incident_ref(row["number"]),
        number=row["number"],
        title=row["title"],
        service=row["service"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        dedup_key=row["dedup_key"],
        runbook=row["runbook"],
        roles=Roles.model_validate(row["roles"] or {}),
        detected_at=utc(row["detected_at"]),
        acknowledged_at=utc(row["acknowledged_at"]),
        mitigated_at=utc(row["mitigated_at"]),
        resolved_at=utc(row["resolved_at"]),
        closed_at=utc(row["closed_at"]),
    )


class Incidents(Timeline):
    def open_or_attach(
        self,
        dedup_key: str,
        *,
        title: str,
        severity: Severity,
        service: str | None = None,
        runbook: str | None = None,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        event: tuple[EventKind, str] | None = None,
    ) -> Opened:
        """Open an incident for ``dedup_key``, or attach to the one already open for it.

        ``event`` (kind, text) is what the incident's first event, or the attach event, says.

        Safe under concurrency: the database lets exactly one insert win; the losers attach to it.
        """
        if not dedup_key:
            raise StoreError("a dedup key is required to open or attach an incident")
        for _ in range(20):
            try:
                with self._write() as conn:
                    # Re-fired alerts are the common case: look first, insert only when nothing is open.
                    row = conn.execute(_OPEN_BY_KEY, {"key": dedup_key}).mappings().first()
                    if row is None:
                        incident = self._insert_incident(
                            conn, title, severity, service, runbook, dedup_key, actor, data, at, event
                        )
                        return Opened(incident, created=True)
                    kind, text = event or (EventKind.INCIDENT_ATTACHED, f"attached: {title}")
                    self._append(
                        conn,
                        row["number"],
                        kind,
                        text,
                        actor=actor,
                        data={"dedup_key": dedup_key, **(data or {})},
                        at=at,
                    )
                    return Opened(row_incident(row), created=False)
            except IntegrityError:
                continue  # another process opened it between our look and our insert: attach to theirs
        raise StoreError(f"could not open or attach an incident for {dedup_key!r}: too much contention")

    def open_incident(
        self,
        *,
        title: str,
        severity: Severity,
        service: str | None = None,
        runbook: str | None = None,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Incident:
        """Open an incident with no dedup key (declared by hand)."""
        with self._write() as conn:
            return self._insert_incident(conn, title, severity, service, runbook, None, actor, data, at, None)

    def _insert_incident(
        self,
        conn: Connection,
        title: str,
        severity: Severity,
        service: str | None,
        runbook: str | None,
        dedup_key: str | None,
        actor: str,
        data: dict[str, Any] | None,
        at: datetime | None,
        event: tuple[EventKind, str] | None,
    ) -> Incident:
        detected = at or now()
        number = conn.execute(
            insert(incidents)
            .values(
                title=redact_text(title),
                service=service,
                severity=Severity(severity).value,
                status=Status.DETECTED.value,
                dedup_key=dedup_key,
                open_key=dedup_key,
                runbook=runbook,
                roles=Roles().model_dump(),
                detected_at=detected,
            )
            .returning(incidents.c.number)
        ).scalar_one()
        kind, text = event or (EventKind.INCIDENT_OPENED, f"incident opened: {title}")
        self._append(
            conn,
            number,
            kind,
            text,
            actor=actor,
            data={"severity": Severity(severity).value, "dedup_key": dedup_key, **(data or {})},
            at=detected,
        )
        row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return row_incident(row)

    def get(self, ref: str | int) -> Incident:
        number = number_of(ref)
        with self._read() as conn:
            row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_ref(number)}")
        return row_incident(row)

    def find_open(self, dedup_key: str) -> Incident | None:
        with self._read() as conn:
            row = conn.execute(select(incidents).where(incidents.c.open_key == dedup_key)).mappings().first()
        return row_incident(row) if row else None

    def list_incidents(
        self,
        *,
        status: Status | Sequence[Status] | None = None,
        severity: Severity | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Incident]:
        """Newest first."""
        q = select(incidents).order_by(incidents.c.number.desc())
        if status is not None:
            wanted = [status] if isinstance(status, Status) else list(status)
            q = q.where(incidents.c.status.in_([s.value for s in wanted]))
        if severity is not None:
            q = q.where(incidents.c.severity == Severity(severity).value)
        if since is not None:
            q = q.where(incidents.c.detected_at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [row_incident(r) for r in conn.execute(q).mappings()]

    def untriaged_unmatched(self, since: datetime, limit: int = 20) -> list[Incident]:
        """Incidents no runbook matched that nobody has triaged yet (still detected), detected since
        ``since``, oldest first: the receiver's launch loop triages them by policy."""
        q = (
            select(incidents)
            .where(incidents.c.runbook.is_(None))
            .where(incidents.c.status == Status.DETECTED.value)
            .where(incidents.c.detected_at >= since)
            .order_by(incidents.c.number)
            .limit(limit)
        )
        with self._read() as conn:
            return [row_incident(r) for r in conn.execute(q).mappings()]

    def latest_for_key(self, dedup_key: str) -> Incident | None:
        """The newest incident, open or not, that carries ``dedup_key``."""
        with self._read() as conn:
            row = (
                conn.execute(
                    select(incidents)
                    .where(incidents.c.dedup_key == dedup_key)
                    .order_by(incidents.c.number.desc())
                )
                .mappings()
                .first()
            )
        return row_incident(row) if row else None

    def count_incidents(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(incidents)).scalar_one())
