"""Run attempts in the ledger: what outlives the process that runs a respond flow.

A flow run's process can die (a crash, ``kill -9`` of ``warroom up``, a lost worker) while a gate waits for
people who take hours. Everything a re-entered run needs to carry on at the same gate (its deadline, the
approvals counted so far, the last refusal) and everything the keeper needs to notice a run is gone
(heartbeats, states) lives here, in Warroom's own store, not in Prefect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.events import EventKind
from warroom.ledger.engine import now, utc
from warroom.ledger.timeline import Timeline
from warroom.schema import run_attempts


class AttemptState(StrEnum):
    ACTIVE = "active"  # the flow is working
    WAITING = "waiting"  # the flow waits at an approval gate (re-entered when its process is gone)
    FINISHED = "finished"  # the flow reached its end (resolved, handed back or failed with a record)
    LOST = "lost"  # the flow is gone without finishing: crashed, cancelled, forced, or its process died


_LIVE = [AttemptState.ACTIVE.value, AttemptState.WAITING.value]


@dataclass(frozen=True)
class Attempt:
    id: int
    flow_run_id: str
    attempt: int
    incident_number: int
    runbook: str
    state: AttemptState
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None
    outcome: str | None
    checkpoint: dict[str, Any]

    @property
    def run_key(self) -> str:
        """The prefix of this attempt's idempotent timeline keys: a retry records its own evidence."""
        return self.flow_run_id if self.attempt == 1 else f"{self.flow_run_id}#{self.attempt}"


@dataclass(frozen=True)
class Begun:
    attempt: Attempt
    reentered: bool  # the same attempt again, at its open gate (its earlier process is gone)
    superseded: Attempt | None  # an earlier attempt that left no outcome, now marked lost


def _newest(conn: Connection, where: ColumnElement[bool], by: ColumnElement[Any]) -> RowMapping | None:
    """The one attempt row matching ``where`` that is greatest by ``by``."""
    return conn.execute(select(run_attempts).where(where).order_by(by.desc()).limit(1)).mappings().first()


# Built once: the receiver asks it for every re-fired alert.
_LATEST_OF_INCIDENT = (
    select(run_attempts)
    .where(run_attempts.c.incident_number == bindparam("number"))
    .order_by(run_attempts.c.id.desc())
    .limit(1)
)


def row_attempt(row: RowMapping) -> Attempt:
    return Attempt(
        id=row["id"],
        flow_run_id=row["flow_run_id"],
        attempt=row["attempt"],
        incident_number=row["incident_number"],
        runbook=row["runbook"],
        state=AttemptState(row["state"]),
        started_at=utc(row["started_at"]),  # type: ignore[arg-type]
        heartbeat_at=utc(row["heartbeat_at"]),  # type: ignore[arg-type]
        ended_at=utc(row["ended_at"]),
        outcome=row["outcome"],
        checkpoint=dict(row["checkpoint"] or {}),
    )


class Attempts:
    """Run attempts, on the same database as the incidents they belong to."""

    def __init__(self, store: Timeline) -> None:
        self.store = store

    def begin(self, flow_run_id: str, incident_number: int, runbook: str) -> Begun:
        """Start (or re-enter) this flow run's attempt.

        A flow run whose latest attempt waits at a gate is the same attempt re-entered: its process died and
        the keeper started it again. Any other earlier attempt is over; one that never recorded an outcome
        (it crashed) is marked lost, and this is a new attempt that records its own evidence.
        """
        for _ in range(3):
            try:
                with self.store._write() as conn:
                    return self._begin(conn, flow_run_id, incident_number, runbook)
            except IntegrityError:
                continue  # two processes began the same flow run at once: read again
        raise RuntimeError(f"cannot begin an attempt of flow run {flow_run_id}")

    def _begin(self, conn: Connection, flow_run_id: str, incident_number: int, runbook: str) -> Begun:
        latest = _newest(conn, run_attempts.c.flow_run_id == flow_run_id, run_attempts.c.attempt)
        at = now()
        if latest is not None and latest["state"] == AttemptState.WAITING:
            conn.execute(
                update(run_attempts).where(run_attempts.c.id == latest["id"]).values(heartbeat_at=at)
            )
            again = row_attempt({**latest, "heartbeat_at": at})  # type: ignore[arg-type]
            return Begun(again, reentered=True, superseded=None)
        superseded = None
        if latest is not None and latest["state"] == AttemptState.ACTIVE:
            outcome = "lost: a new attempt of the same flow run started before this one recorded an outcome"
            conn.execute(
                update(run_attempts)
                .where(run_attempts.c.id == latest["id"])
                .values(state=AttemptState.LOST, ended_at=at, outcome=outcome)
            )
            ended = {**latest, "state": AttemptState.LOST, "ended_at": at, "outcome": outcome}
            superseded = row_attempt(ended)  # type: ignore[arg-type]
        values: dict[str, Any] = {
            "flow_run_id": flow_run_id,
            "attempt": 1 if latest is None else latest["attempt"] + 1,
            "incident_number": incident_number,
            "runbook": runbook,
            "state": AttemptState.ACTIVE.value,
            "started_at": at,
            "heartbeat_at": at,
            "ended_at": None,
            "outcome": None,
            "checkpoint": {},
        }
        new_id = conn.execute(insert(run_attempts).values(**values).returning(run_attempts.c.id)).scalar_one()
        return Begun(row_attempt({**values, "id": new_id}), reentered=False, superseded=superseded)  # type: ignore[arg-type]

    def attempt(self, attempt_id: int) -> Attempt:
        with self.store._read() as conn:
            row = conn.execute(select(run_attempts).where(run_attempts.c.id == attempt_id)).mappings().one()
        return row_attempt(row)

    def save_checkpoint(self, attempt_id: int, checkpoint: dict[str, Any]) -> None:
        with self.store._write() as conn:
            conn.execute(
                update(run_attempts).where(run_attempts.c.id == attempt_id).values(checkpoint=checkpoint)
            )

    def heartbeat(self, attempt_id: int) -> None:
        with self.store._write() as conn:
            conn.execute(
                update(run_attempts)
                .where(run_attempts.c.id == attempt_id, run_attempts.c.state.in_(_LIVE))
                .values(heartbeat_at=now())
            )

    def heartbeat_flow_run(self, flow_run_id: str) -> None:
        """The live attempt of this flow run, whichever it is: beaten from the moment its process starts,
        before it knows whether it re-enters a waiting attempt or begins a new one."""
        with self.store._write() as conn:
            conn.execute(
                update(run_attempts)
                .where(run_attempts.c.flow_run_id == flow_run_id, run_attempts.c.state.in_(_LIVE))
                .values(heartbeat_at=now())
            )

    def set_waiting(self, attempt_id: int, waiting: bool) -> None:
        """WAITING while a gate is open (the keeper re-enters such a run), ACTIVE otherwise."""
        state = AttemptState.WAITING if waiting else AttemptState.ACTIVE
        with self.store._write() as conn:
            conn.execute(
                update(run_attempts)
                .where(run_attempts.c.id == attempt_id, run_attempts.c.state.in_(_LIVE))
                .values(state=state, heartbeat_at=now())
            )

    def finish(self, attempt_id: int, outcome: str) -> bool:
        """The flow reached its end; False when the attempt was already declared lost."""
        return self._end(attempt_id, AttemptState.FINISHED, outcome)

    def lose(self, attempt_id: int, why: str, *, silent_since: datetime | None = None) -> bool:
        """The attempt is gone without an outcome; its open gates close as lost. False if it had ended,
        or (``silent_since``: judged by its silence) if it beat again after the heartbeat that was judged."""
        return self._end(attempt_id, AttemptState.LOST, why, silent_since=silent_since)

    def _end(
        self, attempt_id: int, state: AttemptState, outcome: str, *, silent_since: datetime | None = None
    ) -> bool:
        at = now()
        where = [run_attempts.c.id == attempt_id, run_attempts.c.state.in_(_LIVE)]
        if silent_since is not None:  # read, judged, then written: a process that beat meanwhile is alive
            where.append(run_attempts.c.heartbeat_at <= silent_since)
        with self.store._write() as conn:
            changed = conn.execute(
                update(run_attempts).where(*where).values(state=state, ended_at=at, outcome=outcome[:2000])
            ).rowcount
            if changed and state is AttemptState.LOST:
                self._lost(conn, attempt_id, at)
        return bool(changed)

    def _lost(self, conn: Connection, attempt_id: int, at: datetime) -> None:
        """What else ends with a lost attempt, in the same transaction (its gates: see ``RunLedger``)."""

    def write_off(
        self, attempt: Attempt, why: str, data: dict[str, Any], *, silent_since: datetime | None = None
    ) -> bool:
        """Declare a live attempt lost and say so on its incident, once; False when it had already ended
        (or, judged by ``silent_since``, beat again since)."""
        if not self.lose(attempt.id, why, silent_since=silent_since):
            return False
        self.store.append(
            attempt.incident_number,
            EventKind.RUN_LOST,
            f"the respond run is gone ({why}); any open gate is closed and nothing more is executed",
            data={"flow_run_id": attempt.flow_run_id, "attempt": attempt.attempt, **data},
            key=f"{attempt.run_key}:lost",
        )
        return True

    def live_attempt(self, flow_run_id: str) -> Attempt | None:
        """This flow run's attempt that is still active or waiting, if any."""
        with self.store._read() as conn:
            row = (
                conn.execute(
                    select(run_attempts).where(
                        run_attempts.c.flow_run_id == flow_run_id, run_attempts.c.state.in_(_LIVE)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else row_attempt(row)

    def live(self) -> list[Attempt]:
        with self.store._read() as conn:
            rows = conn.execute(
                select(run_attempts).where(run_attempts.c.state.in_(_LIVE)).order_by(run_attempts.c.id)
            ).mappings()
            return [row_attempt(r) for r in rows]

    def latest_of(self, number: int) -> Attempt | None:
        """The incident's newest attempt (of any of its flow runs): asked on every re-fired alert."""
        with self.store._read() as conn:
            row = conn.execute(_LATEST_OF_INCIDENT, {"number": number}).mappings().first()
        return row_attempt(row) if row is not None else None

    def latest_by_incident(self, numbers: list[int]) -> dict[int, Attempt]:
        """Each incident's newest attempt (of any of its flow runs)."""
        if not numbers:
            return {}
        newest = (
            select(func.max(run_attempts.c.id).label("id"))
            .where(run_attempts.c.incident_number.in_(numbers))
            .group_by(run_attempts.c.incident_number)
            .subquery()
        )
        with self.store._read() as conn:
            rows = conn.execute(
                select(run_attempts).join(newest, run_attempts.c.id == newest.c.id)
            ).mappings()
            return {r["incident_number"]: row_attempt(r) for r in rows}
