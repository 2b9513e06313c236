"""Approval gates in the ledger: one row per proposal an attempt puts to people, and its one verdict.

The deadline, the approvals counted so far and the last refusal live here, so a re-entered run carries on
at the same gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.ledger.attempts import Attempts
from warroom.ledger.engine import now, utc
from warroom.schema import approval_gates


class GateState(StrEnum):
    OPEN = "open"
    GRANTED = "granted"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    LOST = "lost"


@dataclass(frozen=True)
class Gate:
    id: int
    attempt_id: int
    incident_number: int
    proposal: str
    plan_digest: str
    state: GateState
    opened_at: datetime
    escalate_at: datetime | None
    escalated_at: datetime | None
    deadline: datetime
    closed_at: datetime | None
    pauses: int
    granted: list[str]
    adjustments: dict[str, Any]
    last_refusal: dict[str, Any] | None


def row_gate(row: RowMapping) -> Gate:
    return Gate(
        id=row["id"],
        attempt_id=row["attempt_id"],
        incident_number=row["incident_number"],
        proposal=row["proposal"],
        plan_digest=row["plan_digest"],
        state=GateState(row["state"]),
        opened_at=utc(row["opened_at"]),  # type: ignore[arg-type]
        escalate_at=utc(row["escalate_at"]),
        escalated_at=utc(row["escalated_at"]),
        deadline=utc(row["deadline"]),  # type: ignore[arg-type]
        closed_at=utc(row["closed_at"]),
        pauses=row["pauses"],
        granted=list(row["granted"] or []),
        adjustments=dict(row["adjustments"] or {}),
        last_refusal=row["last_refusal"],
    )


class RunLedger(Attempts):
    """Run attempts and their approval gates."""

    def _lost(self, conn: Connection, attempt_id: int, at: datetime) -> None:
        conn.execute(
            update(approval_gates)
            .where(approval_gates.c.attempt_id == attempt_id, approval_gates.c.state == GateState.OPEN)
            .values(state=GateState.LOST, closed_at=at)
        )

    def open_gate(
        self,
        attempt_id: int,
        incident_number: int,
        proposal: str,
        plan_digest: str,
        *,
        escalate_after: timedelta | None,
        timeout: timedelta,
    ) -> tuple[Gate, bool]:
        """This attempt's gate for ``proposal``: opened now, or the one opened before (same deadline)."""
        at = now()
        try:
            with self.store._write() as conn:
                gate_id = conn.execute(
                    insert(approval_gates)
                    .values(
                        attempt_id=attempt_id,
                        incident_number=incident_number,
                        proposal=proposal,
                        plan_digest=plan_digest,
                        state=GateState.OPEN,
                        opened_at=at,
                        escalate_at=None if escalate_after is None else at + escalate_after,
                        deadline=at + timeout,
                        pauses=0,
                        granted=[],
                        adjustments={},
                    )
                    .returning(approval_gates.c.id)
                ).scalar_one()
            return self.gate(gate_id), True
        except IntegrityError:
            with self.store._read() as conn:
                row = (
                    conn.execute(
                        select(approval_gates).where(
                            and_(
                                approval_gates.c.attempt_id == attempt_id,
                                approval_gates.c.proposal == proposal,
                            )
                        )
                    )
                    .mappings()
                    .one()
                )
            return row_gate(row), False

    def gate(self, gate_id: int) -> Gate:
        found = self.find_gate(gate_id)
        if found is None:
            raise KeyError(f"no approval gate {gate_id}")
        return found

    def find_gate(self, gate_id: int) -> Gate | None:
        with self.store._read() as conn:
            row = (
                conn.execute(select(approval_gates).where(approval_gates.c.id == gate_id)).mappings().first()
            )
        return None if row is None else row_gate(row)

    def has_open_gate(self, incident_number: int) -> bool:
        """Is a gate of this incident still waiting (perhaps between two pauses, after a refused answer)?"""
        with self.store._read() as conn:
            return (
                conn.execute(
                    select(approval_gates.c.id).where(
                        approval_gates.c.incident_number == incident_number,
                        approval_gates.c.state == GateState.OPEN.value,
                    )
                ).first()
                is not None
            )

    def next_pause(self, gate_id: int) -> int:
        """Count one more pause of the gate and return its number: each pause takes exactly one answer."""
        with self.store._write() as conn:
            conn.execute(
                update(approval_gates)
                .where(approval_gates.c.id == gate_id)
                .values(pauses=approval_gates.c.pauses + 1)
            )
            return int(
                conn.execute(
                    select(approval_gates.c.pauses).where(approval_gates.c.id == gate_id)
                ).scalar_one()
            )

    def mark_escalated(self, gate_id: int) -> bool:
        """True once: for whoever escalates the open gate first."""
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    update(approval_gates)
                    .where(
                        approval_gates.c.id == gate_id,
                        approval_gates.c.state == GateState.OPEN,
                        approval_gates.c.escalated_at.is_(None),
                    )
                    .values(escalated_at=now())
                ).rowcount
            )

    def grant(self, gate_id: int, approver: str, adjustments: dict[str, Any]) -> Gate:
        """Count one approval (and its adjustments) on the open gate."""
        with self.store._write() as conn:
            row = (
                conn.execute(select(approval_gates).where(approval_gates.c.id == gate_id).with_for_update())
                .mappings()
                .one()
            )
            conn.execute(
                update(approval_gates)
                .where(approval_gates.c.id == gate_id)
                .values(
                    granted=[*(row["granted"] or []), approver],
                    adjustments={**(row["adjustments"] or {}), **adjustments},
                    last_refusal=None,
                )
            )
        return self.gate(gate_id)

    def refuse(self, gate_id: int, refusal: dict[str, Any]) -> None:
        with self.store._write() as conn:
            conn.execute(
                update(approval_gates).where(approval_gates.c.id == gate_id).values(last_refusal=refusal)
            )

    def close(self, gate_id: int, state: GateState) -> bool:
        """Close the open gate with its verdict; False when it was closed already (one verdict per gate)."""
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    update(approval_gates)
                    .where(approval_gates.c.id == gate_id, approval_gates.c.state == GateState.OPEN)
                    .values(state=state, closed_at=now())
                ).rowcount
            )


def pause_key(gate_id: int, pause: int) -> str:
    """The Prefect pause key of a gate's pause (input keys are lowercase, digits and dashes)."""
    return f"gate-{gate_id}-{pause}"


_PAUSE_KEY = re.compile(r"^gate-(?P<gate>\d+)-(?P<pause>\d+)$")


def parse_pause_key(key: str | None) -> tuple[int, int] | None:
    """(gate id, pause number) of a paused run's pause key; None for pauses that are not gates."""
    m = _PAUSE_KEY.match(key or "")
    return (int(m.group("gate")), int(m.group("pause"))) if m else None
