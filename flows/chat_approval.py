"""Approving from chat: a click on an approval request's Approve or Reject opens a modal (a reason, and the
adjustments the runbook allows); its submission, signed by Slack and verified by the receiver, is an
answer from the person the schedules give that Slack user.

The receiver vouches for the answer in the ledger (``chat_answers``: gate, plan digest, decision, person,
Slack user, reason, adjustments) and resumes the waiting run with the answer's id; the gate judges the
ledger's record by the same rules as every other answer (policy, four-eyes, N-of-M, deadline, this gate
and this plan). A gate that takes signed answers only refuses it. The verdict is on the timeline, told to
the person who answered, and shown in the room where the request's buttons were.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from flows.answer import GateError, answer_from_chat
from flows.chat_asks import ask_in_room, requested_for
from tasks.chat import ChatError, ChatProvider, chat_provider
from warroom.answers import judged_key
from warroom.chat.asks import ANSWER_FORM, DECISION_OF_ACTION, answer_modal, button_value, submitted
from warroom.events import EventKind
from warroom.intake.slack_actions import person_of
from warroom.ledger import ChatAnswer, Gate, GateState, RunLedger, Store, now
from warroom.settings import Settings

_VIEW_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")


def answering(settings: Settings, store: Store) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What the receiver calls with a signed approval interaction; Slack's answer to it."""

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        provider = chat_provider(settings)
        if provider is None:
            raise ValueError("approvals from chat need a chat provider: set WARROOM_CHAT_PROVIDER")
        user = payload.get("user")
        slack_user = str(user.get("id") or "")[:100] if isinstance(user, dict) else ""
        if not slack_user:
            raise ValueError("not a Slack interaction: no user")
        chat = _Chat(settings, store, provider, slack_user)
        if payload.get("type") == "view_submission":
            return chat.submitted(payload)
        return chat.clicked(payload)

    return answer


class _Chat:
    def __init__(self, settings: Settings, store: Store, provider: ChatProvider, slack_user: str) -> None:
        self.settings, self.store, self.provider, self.user = settings, store, provider, slack_user
        self.person = person_of(settings, slack_user)

    def _gate(self, gate_id: int) -> Gate:
        gate = RunLedger(self.store).find_gate(gate_id)
        if gate is None:
            raise ValueError(f"no approval gate {gate_id} in this ledger")
        return gate

    def _refuse(self, gate: Gate, answer_id: str, why: str, data: dict[str, Any]) -> None:
        """An answer from chat that never reaches the gate is on the timeline all the same, refused."""
        key = judged_key(answer_id)
        if self.store.event_by_key(gate.incident_number, key) is not None:
            key = f"{key}:again:{uuid.uuid4().hex[:8]}"
        self.store.append(
            gate.incident_number,
            EventKind.APPROVAL_REFUSED,
            f"{gate.proposal}: {why}",
            actor=self.person or f"slack:{self.user}",
            data={"proposal": gate.proposal, "gate": gate.id, "answer_id": answer_id, "why": why, **data},
            key=key,
        )

    def _over(self, gate: Gate, digest: str) -> str | None:
        """Why an answer for this gate and plan cannot count, if it cannot."""
        if gate.state is not GateState.OPEN:
            return f"this approval is over ({gate.state.value}): nothing was counted"
        if digest != gate.plan_digest:
            return "this button was for another plan than the one waiting: nothing was counted"
        if self.person is None:
            return f"Slack user {self.user} is in no on-call schedule: nothing was counted"
        return None

    def clicked(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Approve or Reject pressed: the modal, or the reason it cannot be answered (to the clicker)."""
        actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
        action = next(a for a in actions if a.get("action_id") in DECISION_OF_ACTION)
        gate_id, digest = button_value(str(action.get("value") or ""))
        gate = self._gate(gate_id)
        where = payload.get("channel")
        channel = str(where.get("id") or "") if isinstance(where, dict) else ""
        why = self._over(gate, digest)
        if why is not None:
            self._refuse(gate, f"click-{uuid.uuid4().hex[:12]}", why, {"slack_user": self.user})
            self._tell(channel, why)
            return {}
        incident = self.store.get(gate.incident_number)
        timeline = self.store.timeline(incident.number)
        requested = requested_for(timeline, gate.id)
        if requested is None:
            raise ValueError(f"gate {gate.id} asked nobody for approval")
        ask = ask_in_room(incident, requested, timeline)
        decision = DECISION_OF_ACTION[str(action["action_id"])]
        modal = answer_modal(ask, decision, incident.id, {"channel": channel})
        try:
            self.provider.open_form(str(payload.get("trigger_id") or ""), modal, self.settings)
        except ChatError as exc:
            self._tell(channel, f"the answer form could not be opened: {exc}")
        return {}

    def submitted(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The modal submitted: vouched for in the ledger, then taken to the gate (after Slack's answer)."""
        view = payload.get("view")
        if not isinstance(view, dict) or view.get("callback_id") != ANSWER_FORM:
            raise ValueError("not a Warroom answer form")
        view_id = str(view.get("id") or "")
        if not _VIEW_ID.match(view_id):
            raise ValueError("the submitted view has no id Slack would give")
        said = submitted(view)
        gate = self._gate(said.gate)
        answer_id = f"slack-{view_id}"
        shown = {
            "decision": said.decision,
            "reason": said.reason,
            "slack_user": self.user,
            **said.adjustments,
        }
        why = (
            f"answer {answer_id} was given before; an answer counts once"
            if self.store.chat_answer(answer_id) is not None
            else self._over(gate, said.plan_digest)
        )
        if why is None and not said.reason:
            why = "a reason is required"
        if why is not None:
            self._refuse(gate, answer_id, why, {"answer": shown})
            return {"response_action": "errors", "errors": {"reason": why}}
        assert self.person is not None
        record = ChatAnswer(
            answer_id=answer_id,
            gate_id=gate.id,
            incident_number=gate.incident_number,
            plan_digest=said.plan_digest,
            decision=said.decision,
            approver=self.person,
            provider=self.provider.name,
            chat_user=self.user,
            reason=said.reason[:2000],
            adjustments=said.adjustments,
            at=now(),
        )
        if not self.store.vouch_answer(record):
            why = f"answer {answer_id} was given before; an answer counts once"
            self._refuse(gate, answer_id, why, {"answer": shown})
            return {"response_action": "errors", "errors": {"reason": why}}
        threading.Thread(
            target=self._deliver, args=(record, said.channel), name=f"chat-answer-{view_id}", daemon=True
        ).start()
        return {"response_action": "clear"}

    def _deliver(self, record: ChatAnswer, channel: str) -> None:
        incident = self.store.get(record.incident_number)
        try:
            outcome = answer_from_chat(self.store, incident.id, record)
        except GateError as exc:
            gate = self._gate(record.gate_id)
            self._refuse(gate, record.answer_id, str(exc), {"answer": {"decision": record.decision}})
            self._tell(channel, f"{incident.id}: {exc}")
            return
        self._tell(channel, f"{incident.id}: your answer was {outcome.verdict}: {outcome.text}")

    def _tell(self, channel: str, text: str) -> None:
        if not channel:
            return
        try:
            self.provider.tell_person(channel, self.user, text[:3000], self.settings)
        except ChatError:
            pass  # the timeline has it; the room is told by the keeper's pass
