"""The bad-deploy story from the incident's room alone, through `warroom up` as an on-call engineer meets it:
an alert posted to the receiver at P1, the room opened with the on-call invited, the timeline posted, an
approval clicked in the room that executes the change exactly once, a forged click and an unauthorized one
that change nothing, and a reminder when the stakeholder update is overdue. Slack is the loopback Web API;
the cadence is made short by WARROOM_SEVERITY."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, write_runbook
from tests.net import free_port
from tests.patience import HANG
from tests.peers.slack import SIGNING_SECRET, TOKEN, SlackPeer, running_slack, signed
from tests.service import running_service
from tests.up_process import stop_up, up_env, wait_until_served, warroom
from warroom.events import EventKind
from warroom.ledger import Store
from warroom.oncall.current import on_call
from warroom.settings import Settings

pytestmark = pytest.mark.long(60)


@pytest.fixture
def up_with_slack(tmp_path: Path) -> Iterator[tuple[dict[str, str], SlackPeer]]:
    write_runbook(
        tmp_path / "runbooks",
        CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "300s")
        .replace(" ESCALATE", "")
        .replace(" update_every: 10m,", ""),  # the level's cadence, as WARROOM_SEVERITY sets it
    )
    (tmp_path / "oncall").mkdir()
    shutil.copy(REPO / "oncall" / "sre.yaml", tmp_path / "oncall")
    port = free_port()
    with running_slack() as slack:
        env = {
            **up_env(tmp_path, port),
            "WARROOM_DEFAULT_SEVERITY": "P1",
            "WARROOM_DEFAULT_TEAM": "sre",
            "WARROOM_SEVERITY": '{"P1": {"update_every": "3s"}}',
            "WARROOM_CHAT_PROVIDER": "slack",
            "WARROOM_SLACK_URL": slack.url,
            "WARROOM_SLACK_TOKEN": TOKEN,
            "WARROOM_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
        log = tmp_path / "up.log"
        proc = warroom("up", env=env, output=log, start_new_session=True)
        api = f"http://127.0.0.1:{port}/api"
        try:
            wait_until_served(proc, env, api, log, "svc-capacity")
            yield {**env, "PREFECT_API_URL": api}, slack
        finally:
            stop_up(proc)


def _until(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + HANG
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)
    return found


def test_the_bad_deploy_story_runs_from_the_room_alone(
    up_with_slack: tuple[dict[str, str], SlackPeer],
) -> None:
    env, slack = up_with_slack
    home = Path(env["WARROOM_HOME"])
    receiver = f"http://127.0.0.1:{env['WARROOM_RECEIVER_PORT']}"
    token = (home / "intake-token").read_text().strip()
    store = Store(f"sqlite:///{home / 'warroom.db'}")

    def click(user: str, action: str = "warroom_approve", secret: str = SIGNING_SECRET) -> httpx.Response:
        body, headers = slack.press(user, room.id, "scale_up", action)
        if secret != SIGNING_SECRET:
            headers = {**headers, **signed(body, secret=secret)}
        return httpx.post(f"{receiver}/slack/actions", content=body, headers=headers, timeout=30)

    def answer(user: str, reason: str) -> dict[str, Any]:
        before = set(slack.views)
        assert click(user).status_code == 200
        [view] = set(slack.views) - before
        body, headers = slack.submit(view, {"reason": reason})
        said = httpx.post(f"{receiver}/slack/actions", content=body, headers=headers, timeout=30)
        assert said.status_code == 200, said.text
        return dict(said.json())

    with running_service() as (url, state):
        alert = {
            "title": "ServiceUnhealthy",
            "labels": {"service": "checkout"},
            "annotations": {"service_url": url, "summary": "healthz failing"},
            "fingerprint": "svc-chat-1",
        }
        posted = httpx.post(
            f"{receiver}/alerts/generic", json=alert, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert posted.status_code == 202, posted.text
        incident = posted.json()["results"][0]["incident"]
        room = _until(
            "the incident's room", lambda: [c for c in slack.channels.values() if c.name == "inc-capacity-4"]
        )[0]

        def said() -> str:
            return "\n".join(m["text"] + json.dumps(m["blocks"]) for m in room.messages.values())

        _until("the approval request with its buttons", lambda: "warroom_approve" in said())
        assert click("U0ALICE", secret="forged-secret").status_code == 401  # a forged click: nothing
        assert answer("U0BOB", "ship it") == {"response_action": "clear"}  # bob approves nothing here
        _until("bob's answer refused", lambda: any("bob" in e["text"] for e in slack.ephemeral))
        assert state.scale_calls == []
        # Nobody posted a stakeholder update within the P1's cadence (3 s here): the room is reminded.
        _until("an overdue update reminded in the room", lambda: "no stakeholder update" in said())
        assert answer("U0ALICE", "replicas too few for the traffic") == {"response_action": "clear"}
        _until("resolved", lambda: store.get(incident).status.value == "resolved")
        _until(
            "the resolution told in the room", lambda: "resolved" in said() and "Approved by alice" in said()
        )
    timeline = store.timeline(incident)
    settings = Settings(oncall_dir=Path(env["WARROOM_ONCALL_DIR"]), default_team="sre")
    now_on_call = {
        p for layer, people in on_call(settings, store).items() if "/" not in layer for p in people
    }
    store.close()
    assert state.scale_calls == [4]
    assert [e.kind for e in timeline].count(EventKind.MITIGATION_APPLIED) == 1
    granted = [e for e in timeline if e.kind is EventKind.APPROVAL_GRANTED]
    assert [(e.actor, e.data["answer"]["via"]) for e in granted] == [("alice", "chat")]
    refused = [e for e in timeline if e.kind is EventKind.APPROVAL_REFUSED]
    assert [e.actor for e in refused] == ["bob"]
    ids = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dana": "U0DANA"}
    assert {ids[p] for p in now_on_call} <= room.members  # the on-call invited, by the schedules' ids
    text = said()
    for seen in ("healthz", "proposed scale_up", "Approved by alice", ":large_green_circle:", "resolved"):
        assert seen in text, f"the room never saw {seen!r}"
    assert room.pins, "the pinned summary"
