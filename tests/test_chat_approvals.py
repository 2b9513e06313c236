"""Approving from the incident's room: Approve/Reject on the request the keeper posts, the modal a click
opens through Slack's views.open, its signed submission into the receiver's /slack/actions, and the gate
judging the answer the receiver vouched for, by the same rules as every other answer. Real Prefect, the
real receiver, Slack's own SDK against the loopback Web API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flows.answer import OpenGate
from flows.communicate import keep_rooms
from tests.flow_helpers import (
    CAPACITY_RUNBOOK,
    FlowThread,
    resume_as_the_ui,
    wait_for_gate,
    wait_for_incident,
    write_runbook,
)
from tests.patience import HANG
from tests.peers.slack import SlackPeer, signed
from tests.service import running_service
from tests.test_chat_rooms import slack, slack_handlers  # noqa: F401 - fixture
from tests.test_respond import env  # noqa: F401 - fixture
from warroom.chat.asks import submitted
from warroom.events import EventKind
from warroom.incident import Incident, Severity
from warroom.intake.receiver import create_app
from warroom.intake.router import Router
from warroom.ledger import ChatAnswer, GateState, RunLedger, Store, now
from warroom.settings import Settings, get_settings

SIGNING_SECRET = "warroom-test-signing-secret"


@pytest.fixture
def room_desk(
    env: Store,
    slack: SlackPeer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[Store, SlackPeer, TestClient]]:
    """The receiver as `warroom up` composes it (chat answers taken by the flows' own answering), on a
    ledger of its own: the session's holds the open incidents of every module before, and a room pass
    would make their rooms first (Slack allows 20 channels a minute)."""
    monkeypatch.setenv("WARROOM_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'chat-ledger' / 'warroom.db'}")
    get_settings.cache_clear()
    settings = get_settings()
    store = Store.from_settings(settings)
    router = Router(store, lambda: None, Severity.P3)  # type: ignore[arg-type]
    with TestClient(create_app(settings, store, router, slack_handlers(settings, store))) as client:
        yield store, slack, client
    store.close()


def _at_the_gate(store: Store, url: str) -> tuple[FlowThread, Incident, OpenGate]:
    """The capacity runbook started by dave (proven), waiting at its gate."""
    key = f"test:{uuid.uuid4().hex}"
    thread = FlowThread(
        runbook="svc-capacity", params={"service_url": url}, requested_by="dave", dedup_key=key
    )
    thread.start()
    incident = wait_for_incident(store, key)
    return thread, incident, wait_for_gate(incident.id)


def _asked(settings: Settings, store: Store, incident: str, gate: int) -> str:
    """Keeper passes until the request with its buttons is in the room; the room's channel."""
    deadline = time.monotonic() + HANG
    while store.ask_of(gate) is None:
        assert time.monotonic() < deadline, "the approval request was never posted in the room"
        keep_rooms(settings, store)
        time.sleep(0.2)
    room = store.room(incident)
    assert room is not None
    return room.channel


def _click(
    client: TestClient, slack: SlackPeer, user: str, channel: str, action: str = "warroom_approve"
) -> str:
    """``user`` clicks a button of the request: the id of the modal Slack opened for them."""
    before = set(slack.views)
    body, headers = slack.press(user, channel, "scale_up", action)
    response = client.post("/slack/actions", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [view] = set(slack.views) - before
    return view


def _submit(client: TestClient, slack: SlackPeer, view: str, **values: str) -> dict[str, Any]:
    body, headers = slack.submit(view, values)
    response = client.post("/slack/actions", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _events(store: Store, incident: str, kind: EventKind) -> list[Any]:
    return [e for e in store.timeline(incident) if e.kind is kind]


def _until(what: str, check: Any) -> None:
    deadline = time.monotonic() + HANG
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def test_an_approval_clicked_in_the_room_executes_the_change_once_with_its_adjustment(
    room_desk: tuple[Store, SlackPeer, TestClient],
) -> None:
    store, slack, client = room_desk
    settings = get_settings()
    with running_service() as (url, state):
        thread, incident, gate = _at_the_gate(store, url)
        channel = _asked(settings, store, incident.id, gate.gate_id)
        [ask] = [m for m in slack.channel_found(channel).messages.values() if m["blocks"]]
        said = json.dumps(ask["blocks"])
        assert "Dry run" in said and "Way back" in said and "warroom_reject" in said
        view = _click(client, slack, "U0ALICE", channel)
        modal = slack.views[view]
        assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == [
            "reason",
            "adjust:replicas",
        ]
        body, headers = slack.submit(view, {"reason": "too few replicas", "adjust:replicas": "5"})
        answer = client.post("/slack/actions", content=body, headers=headers)
        assert answer.json() == {"response_action": "clear"}
        result = thread.finish()
        # Slack's retry of the same signed submission (or a replay of it) counts for nothing.
        again = client.post("/slack/actions", content=body, headers=headers).json()
        assert again["response_action"] == "errors" and "counts once" in again["errors"]["reason"]
        keep_rooms(settings, store)
    assert result.outcome == "resolved"
    assert state.scale_calls == [5]
    [granted] = _events(store, incident.id, EventKind.APPROVAL_GRANTED)
    assert granted.actor == "alice" and granted.data["answer"]["via"] == "chat"
    assert granted.data["answer"]["chat_user"] == "U0ALICE" and "too few replicas" in granted.text
    assert len(_events(store, incident.id, EventKind.MITIGATION_APPLIED)) == 1
    assert any("granted" in e["text"] for e in slack.ephemeral if e["user"] == "U0ALICE")
    settled = slack.channel_found(channel).messages[ask["ts"]]
    assert "Approved by alice" in json.dumps(settled["blocks"])
    assert not [b for b in settled["blocks"] if b["type"] == "actions"], "the buttons stay after the verdict"


def test_forged_unknown_unauthorized_and_other_plan_clicks_change_nothing(
    room_desk: tuple[Store, SlackPeer, TestClient],
) -> None:
    store, slack, client = room_desk
    settings = get_settings()
    with running_service() as (url, state):
        thread, incident, gate = _at_the_gate(store, url)
        channel = _asked(settings, store, incident.id, gate.gate_id)
        view = _click(client, slack, "U0BOB", channel)
        body, headers = slack.submit(view, {"reason": "looks right"})
        # Not signed by Slack: a wrong secret, and a signature more than five minutes old.
        forged = {**headers, **signed(body, secret="not-the-apps-secret")}
        assert client.post("/slack/actions", content=body, headers=forged).status_code == 401
        stale = {**headers, **signed(body, at=time.time() - 600)}
        assert client.post("/slack/actions", content=body, headers=stale).status_code == 401
        assert not _events(store, incident.id, EventKind.APPROVAL_SENT)
        # A Slack user no schedule knows: no modal, the refusal on the timeline and told to them.
        body, headers = slack.press("U0NOBODY", channel, "scale_up", "warroom_approve")
        assert client.post("/slack/actions", content=body, headers=headers).status_code == 200
        assert any("no on-call schedule" in e["text"] for e in slack.ephemeral if e["user"] == "U0NOBODY")
        # dana is on the schedule but in no approver group: the gate refuses her, by its own rules.
        dana = _click(client, slack, "U0DANA", channel)
        assert _submit(client, slack, dana, reason="ship it") == {"response_action": "clear"}
        _until(
            "dana's answer judged",
            lambda: [e for e in _events(store, incident.id, EventKind.APPROVAL_REFUSED) if e.actor == "dana"],
        )
        # A button that names another plan than the one waiting.
        [ask] = [m for m in slack.channel_found(channel).messages.values() if m["blocks"]]
        for block in ask["blocks"]:
            for button in block.get("elements", []):
                if button.get("action_id") == "warroom_approve":
                    button["value"] = f"{gate.gate_id}:{'0' * 64}"
        body, headers = slack.press("U0ALICE", channel, "scale_up", "warroom_approve")
        assert client.post("/slack/actions", content=body, headers=headers).status_code == 200
        assert state.scale_calls == []
        assert RunLedger(store).gate(gate.gate_id).state is GateState.OPEN
        # bob's own modal, submitted now, counts.
        assert _submit(client, slack, view, reason="looks right") == {"response_action": "clear"}
        result = thread.finish()
    assert result.outcome == "resolved" and state.scale_calls == [4]
    refused = {e.actor: e.data["why"] for e in _events(store, incident.id, EventKind.APPROVAL_REFUSED)}
    assert "no on-call schedule" in refused["slack:U0NOBODY"]
    assert "dana" in refused and "another plan" in refused["alice"]
    assert [e.actor for e in _events(store, incident.id, EventKind.APPROVAL_GRANTED)] == ["bob"]


def test_the_gate_judges_the_ledgers_record_not_what_prefect_holds(
    room_desk: tuple[Store, SlackPeer, TestClient],
) -> None:
    """An API user rewrites a chat answer in Prefect's input store, or moves another gate's answer id to
    this run: the gate reads the ledger's record, and its gate and plan must be this one."""
    store, _slack, _client = room_desk
    with running_service() as (url, state):
        thread, incident, gate = _at_the_gate(store, url)
        waiting = RunLedger(store).gate(gate.gate_id)

        def vouched(answer_id: str, decision: str, digest: str) -> None:
            store.vouch_answer(
                ChatAnswer(
                    answer_id,
                    gate.gate_id,
                    incident.number,
                    digest,
                    decision,
                    "alice",
                    "slack",
                    "U0ALICE",
                    "as said in chat",
                    {},
                    now(),
                )
            )

        vouched("slack-VOTHERPLAN", "approve", "f" * 64)
        copy = {"decision": "approve", "approver": "alice", "code": "", "reason": "x", "via": "chat"}
        assert resume_as_the_ui(gate.flow_run_id, {**copy, "answer_id": "slack-VOTHERPLAN"}) == "ACCEPT"
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        assert resume_as_the_ui(gate.flow_run_id, {**copy, "answer_id": "slack-VNEVER"}) == "ACCEPT"
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        # The ledger says reject; Prefect's copy, rewritten, says approve: reject it is.
        vouched("slack-VREJECT", "reject", waiting.plan_digest)
        assert resume_as_the_ui(gate.flow_run_id, {**copy, "answer_id": "slack-VREJECT"}) == "ACCEPT"
        result = thread.finish()
    assert state.scale_calls == []
    assert result.outcome != "resolved"
    whys = [e.data["why"] for e in _events(store, incident.id, EventKind.APPROVAL_REFUSED)]
    assert "another plan" in whys[0] and "was vouched for by the receiver" in whys[1]
    [rejected] = _events(store, incident.id, EventKind.APPROVAL_REJECTED)
    assert rejected.data["answer"]["decision"] == "reject"


def test_a_gate_that_takes_signed_answers_only_refuses_a_chat_answer(
    room_desk: tuple[Store, SlackPeer, TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, slack, _client = room_desk
    write_runbook(
        tmp_path / "signed",
        CAPACITY_RUNBOOK.replace("four_eyes: true,", "four_eyes: true, signed: true,")
        .replace("APPROVAL_TIMEOUT", "60s")
        .replace(" ESCALATE", ""),
    )
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "signed"))
    get_settings.cache_clear()
    settings = get_settings()
    with running_service() as (url, state):
        thread, incident, gate = _at_the_gate(store, url)
        channel = _asked(settings, store, incident.id, gate.gate_id)
        [ask] = [m for m in slack.channel_found(channel).messages.values() if m["blocks"]]
        assert not [b for b in ask["blocks"] if b["type"] == "actions"]
        assert "Signed answers only" in json.dumps(ask["blocks"])
        store.vouch_answer(
            ChatAnswer(
                "slack-VSIGNED",
                gate.gate_id,
                incident.number,
                gate.plan_digest,
                "approve",
                "alice",
                "slack",
                "U0ALICE",
                "chat",
                {},
                now(),
            )
        )
        copy = {"decision": "approve", "approver": "alice", "code": "", "reason": "x", "via": "chat"}
        assert resume_as_the_ui(gate.flow_run_id, {**copy, "answer_id": "slack-VSIGNED"}) == "ACCEPT"
        wait_for_gate(incident.id, after_pause=gate.pause)
        [refused] = _events(store, incident.id, EventKind.APPROVAL_REFUSED)
        assert "signed answers only" in refused.data["why"]
        assert state.scale_calls == []
        from flows.answer import answer_gate
        from tests.flow_helpers import signer_of

        answer_gate(store, incident.id, signer=signer_of("bob"), reason="signed")
        thread.finish()
    assert state.scale_calls == [4]


def test_a_malformed_submission_is_a_400_and_kept(room_desk: tuple[Store, SlackPeer, TestClient]) -> None:
    store, _slack, client = room_desk
    payload = {
        "type": "view_submission",
        "user": {"id": "U0ALICE"},
        "view": {"id": "V1", "callback_id": "warroom_answer", "private_metadata": "{not json"},
    }
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = client.post(
        "/slack/actions",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)},
    )
    assert response.status_code == 400 and "private_metadata" in response.json()["error"]
    kept = store.payload(response.json()["payload_id"])
    assert kept is not None and kept.body == body


def test_a_submitted_modal_reads_its_reason_and_only_the_adjustments_given() -> None:
    meta = json.dumps(
        {"gate": 3, "digest": "a" * 64, "decision": "approve", "incident": "INC-1", "channel": "C1"}
    )
    view = {
        "private_metadata": meta,
        "state": {
            "values": {
                "reason": {"value": {"type": "plain_text_input", "value": " because "}},
                "adjust:replicas": {"value": {"type": "plain_text_input", "value": "6"}},
                "adjust:image": {"value": {"type": "plain_text_input", "value": None}},
            }
        },
    }
    said = submitted(view)
    assert (said.gate, said.reason, said.adjustments, said.channel) == (3, "because", {"replicas": "6"}, "C1")
    with pytest.raises(ValueError, match="no gate and plan"):
        submitted(
            {**view, "private_metadata": json.dumps({"gate": 3, "digest": "xyz", "decision": "approve"})}
        )


def test_without_a_signing_secret_the_request_says_how_to_answer_from_a_terminal() -> None:
    from warroom.chat.asks import Ask, ask_blocks

    ask = Ask(
        gate=7, proposal="scale_up", plan_digest="a" * 64, text="*INC-3*", signed_only=False, adjustable=()
    )
    blocks = ask_blocks(ask, "INC-3", buttons=False)
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert "warroom approve INC-3 --proposal scale_up" in json.dumps(blocks)
    with_buttons = ask_blocks(ask, "INC-3")
    [actions] = [b for b in with_buttons if b["type"] == "actions"]
    assert {e["value"] for e in actions["elements"]} == {f"7:{'a' * 64}"}
