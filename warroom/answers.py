"""Answers to a gate as they travel: what a gate leaves beside its paused run for an approver's machine that
has no ledger, and answers a process sent that the gate never judged (removed on the way)."""

from __future__ import annotations

from collections.abc import Iterable

from warroom.events import EventKind
from warroom.incident import TimelineEvent


class GateError(RuntimeError):
    """No gate to answer, or the answer was refused before it reached the flow."""


# Run-input keys (Prefect allows lowercase letters, digits and dashes). Copies for display and signing only:
# the gate judges every answer against the ledger's own values, never against these.
GATE_INPUT = "warroom-{key}"  # the gate's id, incident, proposal and plan digest, at each pause
VERDICT_INPUT = "warroom-verdict-{answer_id}"  # how the gate judged one answer

SENT = EventKind.APPROVAL_SENT  # `warroom approve` on the host records what it sends before it sends it


def judged_key(answer_id: str) -> str:
    """The timeline key of the gate's judgement of one answer."""
    return f"answer:{answer_id}"


def removed_key(answer_id: str) -> str:
    """The timeline key of an answer sent but removed from Prefect before the gate read it."""
    return f"removed:{answer_id}"


def sent_unjudged(timeline: Iterable[TimelineEvent], gate: int) -> list[TimelineEvent]:
    """Answers sent to ``gate`` that have neither a judgement nor a removal on the timeline."""
    events = list(timeline)
    done = {e.key for e in events if e.key}
    return [
        e
        for e in events
        if e.kind == SENT
        and e.data.get("gate") == gate
        and judged_key(str(e.data.get("answer_id"))) not in done
        and removed_key(str(e.data.get("answer_id"))) not in done
    ]
