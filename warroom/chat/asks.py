"""An approval asked in the incident's room: the message with Approve and Reject (what will change, the dry
run, the way back, who may answer and until when), the modal a click opens (a reason; the adjustments the
runbook allows), and what a submitted modal says. Block Kit as Slack documents it; nothing here sends.

A button carries its gate and the digest of the plan it shows (``GATE:DIGEST``); the modal keeps both in
its private metadata, so an answer is bound to the plan its author read, whatever waits by the time it
arrives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from warroom.chat.messages import escape
from warroom.incident import Incident, TimelineEvent
from warroom.proposal import Proposal, dry_run_in_words, findings

APPROVE = "warroom_approve"
REJECT = "warroom_reject"
DECISION_OF_ACTION = {APPROVE: "approve", REJECT: "reject"}
ANSWER_FORM = "warroom_answer"  # the modal's callback id
SECTION_LIMIT = 3000
_BUTTON_VALUE = re.compile(r"^([0-9]{1,12}):([0-9a-f]{64})$")


@dataclass(frozen=True)
class Ask:
    """An approval request as the room shows it."""

    gate: int
    proposal: str
    plan_digest: str
    text: str  # what the message says (the buttons aside)
    signed_only: bool
    adjustable: tuple[str, ...]


def ask_of(incident: Incident, requested: TimelineEvent, proposed: TimelineEvent | None) -> Ask:
    """The request from its ``approval.requested`` event and the ``mitigation.proposed`` before it."""
    data = requested.data
    proposal_id = str(data.get("proposal") or "?")
    lines = [f"*{escape(incident.id)} · {incident.severity.value} · approve `{escape(proposal_id)}`?*"]
    if proposed is not None:
        proposal = Proposal.model_validate(proposed.data)
        params = ", ".join(f"{k}={v}" for k, v in proposal.params.items() if v not in (None, "", [], {}))
        lines += [
            f"*Change*: {escape(proposal.summary)}: `{escape(proposal.use)}` {escape(params[:300])}",
            f"*Dry run*: {escape(dry_run_in_words(proposal.dry_run)[:600])}",
            f"*Way back*: {escape(proposal.way_back or 'none given')}",
            *(
                [f"*Last time*: {escape(proposal.last_time.removeprefix('last time '))}"]
                if proposal.last_time
                else []
            ),
        ]
        found = findings(proposal.evidence)
        if found:
            lines.append("*Why*: " + escape("; ".join(found)[:800]))
    eligible = ", ".join(str(p) for p in data.get("eligible") or []) or "nobody eligible"
    deadline = str(data.get("deadline") or "")[11:16]
    lines.append(
        f"*Who*: {data.get('required', 1)} of {escape(eligible)}"
        + (" (four-eyes)" if data.get("four_eyes") else "")
        + (f"; closes {deadline} UTC, then nothing is executed" if deadline else "")
    )
    text = "\n".join(lines)
    return Ask(
        gate=int(data.get("gate") or 0),
        proposal=proposal_id,
        plan_digest=str(data.get("plan_digest") or ""),
        text=text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…",
        signed_only=bool(data.get("signed_only")),
        adjustable=tuple(str(a) for a in data.get("adjustable") or ()),
    )


def ask_blocks(ask: Ask, incident: str, buttons: bool = True) -> list[dict[str, Any]]:
    """The request with its buttons: none when only signed answers count, or when the receiver cannot
    check a click (no signing secret): then it says how to answer from a terminal."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": ask.text}}]
    how = f"`warroom approve {escape(incident)} --proposal {escape(ask.proposal)}`"
    if ask.signed_only:
        return [*blocks, _context(f"Signed answers only: approve from a terminal with your key, {how}")]
    if not buttons:
        return [
            *blocks,
            _context(f"Approve from a terminal: {how} (chat approvals need the app's signing secret)"),
        ]
    value = f"{ask.gate}:{ask.plan_digest}"
    return [
        *blocks,
        {
            "type": "actions",
            "block_id": f"warroom_gate_{ask.gate}",
            "elements": [
                _button("Approve", APPROVE, value, "primary"),
                _button("Reject", REJECT, value, "danger"),
            ],
        },
    ]


def settled_blocks(ask_text: str, outcome: str) -> list[dict[str, Any]]:
    """The request once its gate is decided: the buttons gone, the outcome in their place."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": ask_text}}, _context(escape(outcome))]


def button_value(value: str) -> tuple[int, str]:
    """A button's gate and plan digest; ValueError when it is not one of ours."""
    found = _BUTTON_VALUE.match(value or "")
    if found is None:
        raise ValueError("not a Warroom approval button (its value names no gate and plan)")
    return int(found.group(1)), found.group(2)


def answer_modal(ask: Ask, decision: str, incident: str, where: dict[str, str]) -> dict[str, Any]:
    """The modal a click opens: the request again, a reason, and the adjustments the runbook allows."""
    verb = "Approve" if decision == "approve" else "Reject"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": ask.text}},
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason (on the incident's timeline)"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": 2000,
            },
        },
    ]
    for name in ask.adjustable:
        blocks.append(
            {
                "type": "input",
                "block_id": f"adjust:{name}",
                "optional": True,
                "label": {"type": "plain_text", "text": f"Adjust {name}"[:2000]},
                "hint": {"type": "plain_text", "text": "Empty keeps the proposed value"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        )
    meta = {"gate": ask.gate, "digest": ask.plan_digest, "decision": decision, "incident": incident, **where}
    return {
        "type": "modal",
        "callback_id": ANSWER_FORM,
        "title": {"type": "plain_text", "text": f"{verb} the change"},
        "submit": {"type": "plain_text", "text": verb},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
    }


@dataclass(frozen=True)
class Submitted:
    gate: int
    plan_digest: str
    decision: str
    incident: str
    reason: str
    adjustments: dict[str, str]
    channel: str


def submitted(view: dict[str, Any]) -> Submitted:
    """What a submitted answer modal says; ValueError naming what is missing or malformed."""
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
    except json.JSONDecodeError:
        raise ValueError("the modal's private_metadata is not Warroom's") from None
    if not isinstance(meta, dict) or meta.get("decision") not in ("approve", "reject"):
        raise ValueError("the modal's private_metadata names no decision")
    gate, digest = button_value(f"{meta.get('gate')}:{meta.get('digest')}")
    values = (view.get("state") or {}).get("values") or {}
    if not isinstance(values, dict):
        raise ValueError("the modal's state.values is not an object")

    def said(block: str) -> str:
        element = (values.get(block) or {}).get("value") or {}
        return str(element.get("value") or "").strip() if isinstance(element, dict) else ""

    adjustments = {
        block.split(":", 1)[1]: said(block)
        for block in values
        if isinstance(block, str) and block.startswith("adjust:") and said(block)
    }
    return Submitted(
        gate=gate,
        plan_digest=digest,
        decision=str(meta["decision"]),
        incident=str(meta.get("incident") or ""),
        reason=said("reason"),
        adjustments=adjustments,
        channel=str(meta.get("channel") or ""),
    )


def _button(text: str, action: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action,
        "value": value,
        "style": style,
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
