"""Approvals asked in the incident's room, as the keeper's pass keeps them: an ``approval.requested`` on the
timeline is posted as its own message with Approve and Reject, and once the gate is decided the message is
edited to show how (its buttons gone), so nobody clicks on an approval that is over."""

from __future__ import annotations

from tasks.chat import ChatProvider, Room
from warroom.chat.asks import Ask, ask_blocks, ask_of, settled_blocks
from warroom.events import EventKind
from warroom.incident import Incident, TimelineEvent
from warroom.intake.slack_actions import SlackAppSettings
from warroom.ledger import GateState, RunLedger, Store
from warroom.settings import Settings


def requested_for(timeline: list[TimelineEvent], gate_id: int) -> TimelineEvent | None:
    """The ``approval.requested`` that asked for this gate's approval."""
    return next(
        (e for e in timeline if e.kind is EventKind.APPROVAL_REQUESTED and e.data.get("gate") == gate_id),
        None,
    )


def ask_in_room(incident: Incident, requested: TimelineEvent, timeline: list[TimelineEvent]) -> Ask:
    proposal = requested.data.get("proposal")
    proposed = next(
        (
            e
            for e in reversed(timeline)
            if e.kind is EventKind.MITIGATION_PROPOSED
            and e.id < requested.id
            and e.data.get("id") == proposal
        ),
        None,
    )
    return ask_of(incident, requested, proposed)


def post_ask(
    provider: ChatProvider,
    settings: Settings,
    store: Store,
    room: Room,
    incident: Incident,
    requested: TimelineEvent,
    timeline: list[TimelineEvent],
) -> str:
    """Post the request with its buttons, once per gate; a line for the keeper's log."""
    ask = ask_in_room(incident, requested, timeline)
    if store.ask_of(ask.gate) is None:
        checked = settings.of(SlackAppSettings).signing_secret is not None  # a click can be verified
        blocks = ask_blocks(ask, incident.id, buttons=checked)
        message = provider.ask(room, f"{incident.id}: approve {ask.proposal}?", blocks, settings)
        store.add_ask(ask.gate, incident.number, room.channel, message)
    return f"asked for approval of {ask.proposal}"


OUTCOME = {
    GateState.GRANTED: "Approved by {who}: the change runs now.",
    GateState.REJECTED: "Rejected: nothing was executed.",
    GateState.TIMED_OUT: "Nobody answered in time: nothing was executed.",
    GateState.LOST: "The run left this approval: nothing was executed.",
}


def settle_asks(
    provider: ChatProvider,
    settings: Settings,
    store: Store,
    room: Room,
    incident: Incident,
    timeline: list[TimelineEvent],
) -> list[str]:
    """Edit each decided gate's request to say how it ended, its buttons gone."""
    done: list[str] = []
    runs = RunLedger(store)
    for kept in store.asks_unsettled(incident.number):
        gate = runs.gate(kept.gate_id)
        if gate.state is GateState.OPEN:
            continue
        requested = requested_for(timeline, gate.id)
        if requested is None:
            continue
        ask = ask_in_room(incident, requested, timeline)
        outcome = OUTCOME[gate.state].format(who=", ".join(gate.granted) or "nobody")
        provider.edit(
            room, kept.message, f"{ask.proposal}: {outcome}", settings, settled_blocks(ask.text, outcome)
        )
        store.ask_settled(gate.id, gate.state.value)
        done.append(f"{ask.proposal}: {gate.state.value}")
    return done
