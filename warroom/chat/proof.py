"""An answer given in chat, as a gate proves it: the receiver vouched for it in the ledger (the chat service
signed the request, and the schedules name the chat user), bound to one gate and one plan.

What reaches the gate through Prefect is only the answer's id (``via: chat``): the decision, the person,
the reason and the adjustments are read from the ledger's record, so an API user who rewrites the copy in
Prefect's input store, or moves an answer's id to another run, changes nothing that counts.
"""

from __future__ import annotations

from typing import Any

from warroom.identity import Identity
from warroom.ledger import Gate, Store

CHAT = "chat"  # the run input's ``via`` for an answer the receiver vouched for


def from_chat(raw: dict[str, Any]) -> bool:
    return raw.get("via") == CHAT


def vouched(store: Store, raw: dict[str, Any]) -> dict[str, Any]:
    """A chat answer as the ledger recorded it (Prefect's copy is ignored); any other answer as it came.
    An id the ledger does not know stays as it came, for the gate to refuse (``chat_identity``)."""
    if not from_chat(raw):
        return raw
    answer_id = str(raw.get("answer_id") or "")
    record = store.chat_answer(answer_id) if answer_id else None
    if record is None:
        return raw
    return {
        "decision": record.decision,
        "approver": record.approver,
        "reason": record.reason,
        "answer_id": record.answer_id,
        "via": CHAT,
        "chat_user": record.chat_user,
        **record.adjustments,
    }


def chat_identity(store: Store, gate: Gate, answer_id: str) -> Identity:
    """Did the receiver vouch for this answer, for this gate and this exact plan?"""
    record = store.chat_answer(answer_id)
    if record is None:
        return Identity(False, f"no answer {answer_id} was vouched for by the receiver: nothing counts")
    if record.gate_id != gate.id or record.incident_number != gate.incident_number:
        return Identity(
            False, f"answer {answer_id} was given for another approval (gate {record.gate_id}), not this one"
        )
    if record.plan_digest != gate.plan_digest:
        return Identity(
            False,
            f"answer {answer_id} was given for another plan ({record.plan_digest[:12]}…), "
            f"not the one waiting ({gate.plan_digest[:12]}…)",
        )
    return Identity(True, f"{record.approver}, as {record.provider} user {record.chat_user}")
