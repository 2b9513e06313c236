"""The intake queue: raw alert bodies kept as received, and runbook launches queued once per key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.ledger.engine import NotFound, now, utc
from warroom.ledger.timeline import Timeline
from warroom.redact import redact_text
from warroom.schema import alert_launches, alert_payloads

# Built once (as timeline.py's event insert): the values go in as parameters on the receiver's hot path.
_INSERT_PAYLOAD = insert(alert_payloads).returning(alert_payloads.c.id)
_INSERT_LAUNCH = insert(alert_launches)


class PayloadState(StrEnum):
    RECEIVED = "received"  # kept, not routed: the ledger failed while routing it (its error says so)
    ACCEPTED = "accepted"  # parsed into one or more alerts
    IGNORED = "ignored"  # valid, but nothing to act on (a handshake, a test notification)
    REJECTED = "rejected"  # malformed or unauthenticated; ``error`` says why


class LaunchState(StrEnum):
    PENDING = "pending"
    LAUNCHED = "launched"
    FAILED = "failed"  # retried at ``next_attempt_at``


@dataclass(frozen=True)
class Payload:
    id: int
    received_at: datetime
    source: str
    remote: str | None
    content_type: str | None
    body: bytes
    state: PayloadState
    error: str | None
    alerts: int


@dataclass(frozen=True)
class Launch:
    id: int
    idempotency_key: str
    payload_id: int
    incident_number: int
    runbook: str
    dedup_key: str
    alert: dict[str, Any]
    state: LaunchState
    attempts: int
    next_attempt_at: datetime
    flow_run_id: str | None
    error: str | None
    created_at: datetime
    priority: int  # 1 (P1) .. 4 (P4): launched in this order


def _payload(row: RowMapping) -> Payload:
    return Payload(**{**row, "state": PayloadState(row["state"]), "received_at": utc(row["received_at"])})


def _launch(row: RowMapping) -> Launch:
    return Launch(
        **{
            **row,
            "state": LaunchState(row["state"]),
            "next_attempt_at": utc(row["next_attempt_at"]),
            "created_at": utc(row["created_at"]),
        }
    )


class Intake(Timeline):
    def save_payload(
        self,
        source: str,
        body: bytes,
        *,
        remote: str | None,
        content_type: str | None,
        state: PayloadState = PayloadState.RECEIVED,
        alerts: int = 0,
        error: str | None = None,
    ) -> int:
        """Keep a raw alert body exactly as received, with what reading it found when that is known."""
        values = {
            "received_at": now(),
            "source": source,
            "remote": remote,
            "content_type": content_type,
            "body": body,
            "state": PayloadState(state).value,
            "alerts": alerts,
            "error": error,
        }
        with self._write() as conn:
            return int(conn.execute(_INSERT_PAYLOAD, values).scalar_one())

    def mark_payload(
        self, payload_id: int, state: PayloadState, *, error: str | None = None, alerts: int = 0
    ) -> None:
        with self._write() as conn:
            conn.execute(
                update(alert_payloads)
                .where(alert_payloads.c.id == payload_id)
                .values(state=PayloadState(state).value, error=error, alerts=alerts)
            )

    def payload(self, payload_id: int) -> Payload:
        with self._read() as conn:
            row = (
                conn.execute(select(alert_payloads).where(alert_payloads.c.id == payload_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no alert payload {payload_id}")
        return _payload(row)

    def payloads(self, state: PayloadState | None = None) -> list[Payload]:
        q = select(alert_payloads).order_by(alert_payloads.c.id)
        if state is not None:
            q = q.where(alert_payloads.c.state == PayloadState(state).value)
        with self._read() as conn:
            return [_payload(r) for r in conn.execute(q).mappings()]

    def queue_launch(
        self,
        key: str,
        *,
        payload_id: int,
        incident: int,
        runbook: str,
        dedup_key: str,
        alert: dict[str, Any],
        priority: int,
    ) -> bool:
        """Queue a runbook launch once per key; False when it was queued before (a retry or a storm)."""
        try:
            with self._write() as conn:
                at = now()
                conn.execute(
                    _INSERT_LAUNCH,
                    {
                        "idempotency_key": key,
                        "payload_id": payload_id,
                        "incident_number": incident,
                        "runbook": runbook,
                        "dedup_key": dedup_key,
                        "alert": alert,
                        "state": LaunchState.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": at,
                        "created_at": at,
                        "priority": priority,
                    },
                )
        except IntegrityError:
            return False
        return True

    def due_launches(self, limit: int = 50) -> list[Launch]:
        """Launches due now, the most severe first, then in the order they came."""
        with self._read() as conn:
            rows = conn.execute(
                select(alert_launches)
                .where(
                    alert_launches.c.state.in_([LaunchState.PENDING.value, LaunchState.FAILED.value]),
                    alert_launches.c.next_attempt_at <= now(),
                )
                .order_by(alert_launches.c.priority, alert_launches.c.id)
                .limit(limit)
            ).mappings()
            return [_launch(r) for r in rows]

    def launch_done(
        self, launch_id: int, flow_run_id: str, *, incident_number: int, runbook: str, idempotency_key: str
    ) -> None:
        """The launch made its flow run: marked so, and ``runbook.launched`` on the timeline, in one
        transaction (a process that dies between the two leaves neither half)."""
        with self._write() as conn:
            conn.execute(
                update(alert_launches)
                .where(alert_launches.c.id == launch_id)
                .values(
                    state=LaunchState.LAUNCHED.value,
                    flow_run_id=flow_run_id,
                    error=None,
                    attempts=alert_launches.c.attempts + 1,
                )
            )
            self._append(
                conn,
                incident_number,
                EventKind.RUNBOOK_LAUNCHED,
                f"launched respond/{runbook} (flow run {flow_run_id})",
                actor="warroom",
                data={"flow_run_id": flow_run_id, "idempotency_key": idempotency_key},
                key=f"launched:{idempotency_key}",
            )

    def launch_failed(self, launch_id: int, error: str, retry_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(alert_launches)
                .where(alert_launches.c.id == launch_id)
                .values(
                    state=LaunchState.FAILED.value,
                    error=redact_text(error),
                    next_attempt_at=retry_at,
                    attempts=alert_launches.c.attempts + 1,
                )
            )

    def launches(self, incident: int | None = None) -> list[Launch]:
        q = select(alert_launches).order_by(alert_launches.c.id)
        if incident is not None:
            q = q.where(alert_launches.c.incident_number == incident)
        with self._read() as conn:
            return [_launch(r) for r in conn.execute(q).mappings()]
