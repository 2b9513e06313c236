"""Approvals asked and answered in chat, as the ledger keeps them.

The receiver verifies a chat service's signature on a submitted answer, maps the chat user to a person,
and vouches for the answer here (``vouch_answer``) before it resumes the waiting run with nothing but the
answer's id. The gate then judges the answer it reads here, never the copy in Prefect's input store, so an
API user who rewrites or moves that copy changes nothing: the record is bound to one gate and one plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.ledger.engine import now, number_of, utc
from warroom.ledger.timeline import Timeline
from warroom.schema import chat_answers, chat_asks


@dataclass(frozen=True)
class ChatAnswer:
    answer_id: str
    gate_id: int
    incident_number: int
    plan_digest: str
    decision: str
    approver: str
    provider: str
    chat_user: str
    reason: str
    adjustments: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class ChatAsk:
    gate_id: int
    incident_number: int
    channel: str
    message: str
    settled: str | None


class ChatAnswers(Timeline):
    def vouch_answer(self, answer: ChatAnswer) -> bool:
        """Keep an answer the chat service signed for; False when one with its id was kept before."""
        try:
            with self._write() as conn:
                conn.execute(
                    insert(chat_answers).values(
                        answer_id=answer.answer_id,
                        gate_id=answer.gate_id,
                        incident_number=answer.incident_number,
                        plan_digest=answer.plan_digest,
                        decision=answer.decision,
                        approver=answer.approver,
                        provider=answer.provider,
                        chat_user=answer.chat_user,
                        reason=answer.reason,
                        adjustments=answer.adjustments,
                        at=answer.at,
                    )
                )
        except IntegrityError:
            return False
        return True

    def chat_answer(self, answer_id: str) -> ChatAnswer | None:
        with self._read() as conn:
            row = (
                conn.execute(select(chat_answers).where(chat_answers.c.answer_id == answer_id))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return ChatAnswer(
            answer_id=row["answer_id"],
            gate_id=row["gate_id"],
            incident_number=row["incident_number"],
            plan_digest=row["plan_digest"],
            decision=row["decision"],
            approver=row["approver"],
            provider=row["provider"],
            chat_user=row["chat_user"],
            reason=row["reason"],
            adjustments=dict(row["adjustments"] or {}),
            at=utc(row["at"]) or now(),
        )

    def add_ask(self, gate_id: int, ref: str | int, channel: str, message: str) -> None:
        """The message that asks the room for this gate's approval (its buttons), posted."""
        with self._write() as conn:
            conn.execute(
                insert(chat_asks).values(
                    gate_id=gate_id,
                    incident_number=number_of(ref),
                    channel=channel,
                    message=message,
                    asked_at=now(),
                )
            )

    def asks_unsettled(self, ref: str | int) -> list[ChatAsk]:
        """The incident's approval messages still showing their buttons."""
        with self._read() as conn:
            rows = conn.execute(
                select(chat_asks).where(
                    chat_asks.c.incident_number == number_of(ref), chat_asks.c.settled.is_(None)
                )
            ).mappings()
            return [
                ChatAsk(r["gate_id"], r["incident_number"], r["channel"], r["message"], r["settled"])
                for r in rows
            ]

    def ask_of(self, gate_id: int) -> ChatAsk | None:
        with self._read() as conn:
            r = conn.execute(select(chat_asks).where(chat_asks.c.gate_id == gate_id)).mappings().first()
        return (
            None
            if r is None
            else ChatAsk(r["gate_id"], r["incident_number"], r["channel"], r["message"], r["settled"])
        )

    def ask_settled(self, gate_id: int, state: str) -> None:
        with self._write() as conn:
            conn.execute(update(chat_asks).where(chat_asks.c.gate_id == gate_id).values(settled=state))
