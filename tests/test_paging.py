"""Paging as people meet it: an alert through `warroom up` pages whoever the schedule says is primary (by
Slack with an Acknowledge button, and a signed webhook), escalates to the secondary when nobody
acknowledges in time, and the button (or `warroom ack`) stops it, makes the acknowledger commander and
puts the time to acknowledge on the incident. Windows are made short by the schedule, not by sleeping."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.paging import escalate_due, page_step, start_paging
from tests.flow_helpers import CAPACITY_RUNBOOK, code, fresh_code, write_runbook
from tests.net import free_port
from tests.peers.slack import SIGNING_SECRET, TOKEN, running_slack, signed_interaction
from tests.served import wait_for
from tests.service import running_service
from tests.test_cli import warroom
from tests.up_process import prefect_login, stop_up, up_env
from tests.up_process import warroom as warroom_process
from warroom.identity import Purpose
from warroom.incident import Role, Severity
from warroom.intake.auth import hmac_hex
from warroom.ledger import PageState, Store
from warroom.settings import get_settings

pytestmark = pytest.mark.long(290)

SCHEDULE = """\
team: sre
timezone: UTC
rotation: {length: 1w, start: 2026-01-05, handoff: {day: monday, time: "09:00"}}
layers:
  - {name: primary, members: [alice]}
  - {name: secondary, members: [bob]}
escalation: {ack_within: WINDOW, path: [primary, secondary]}
people:
  alice: {slack: U0ALICE}
  bob: {slack: U0BOB}
"""


@contextmanager
def webhook_peer() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            got.append((dict(self.headers), self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/page", got
    finally:
        server.shutdown()
        server.server_close()


def test_an_alert_through_warroom_up_pages_primary_escalates_to_secondary_and_the_button_acknowledges(
    tmp_path: Path,
) -> None:
    (tmp_path / "oncall").mkdir()
    # The primary's window is short, so the test sees an escalation; the secondary's is a person's, so
    # the button pressed after its page counts however loaded the machine is.
    (tmp_path / "oncall" / "sre.yaml").write_text(SCHEDULE.replace("WINDOW", "3s, windows: {secondary: 10m}"))
    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "120s").replace(" ESCALATE", "")
    )
    port = free_port()
    with running_slack() as slack, webhook_peer() as (hook, hook_posts), running_service() as (url, _state):
        env = {
            **up_env(tmp_path, port),
            "WARROOM_ONCALL_DIR": str(tmp_path / "oncall"),
            "WARROOM_DEFAULT_SEVERITY": "P2",
            "WARROOM_PAGE_CHANNELS": '["slack", "webhook"]',
            "WARROOM_SLACK_URL": slack.url,
            "WARROOM_SLACK_TOKEN": TOKEN,
            "WARROOM_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "WARROOM_PAGE_WEBHOOK_URL": hook,
            "WARROOM_PAGE_WEBHOOK_SECRET": "hook-secret",
            "WARROOM_KEEPER_POLL_SECONDS": "0.5",
            "WARROOM_CHAT_PROVIDER": "slack",  # a P2 gets a room: the same Slack app's own channel
        }
        up = warroom_process("up", env=env, start_new_session=True)
        try:
            api = f"http://127.0.0.1:{port}/api"

            def served() -> bool:
                try:
                    found = httpx.post(
                        f"{api}/deployments/filter", json={}, auth=prefect_login(env), timeout=2
                    )
                    return any(d["name"] == "svc-capacity" for d in found.json())
                except (httpx.HTTPError, ValueError):
                    return False

            wait_for("warroom up to serve the runbook", served)
            alert = tmp_path / "alert.json"
            alert.write_text(
                json.dumps(
                    {
                        "title": "ServiceUnhealthy",
                        "labels": {"service": "checkout"},
                        "annotations": {"service_url": url},
                        "fingerprint": "svc-page",
                    }
                )
            )
            replayed = warroom("alerts", "replay", str(alert), "--format", "generic", env=env)
            assert replayed.returncode == 0, replayed.stdout + replayed.stderr
            incident = json.loads(replayed.stdout)["results"][0]["incident"]
            # Whether bob is paged yet depends on how long the command took to return: the ledger's times
            # below say he was paged only once alice's window had passed.
            [to_alice] = wait_for("the primary to be paged", lambda: slack.messages_to("U0ALICE"))
            assert (
                f"[P2] {incident}" in to_alice["text"]
                and f"warroom ack {incident} --as alice" in to_alice["text"]
            )
            button = to_alice["blocks"][1]["elements"][0]
            assert (button["action_id"], button["value"]) == ("warroom_ack", incident)
            wait_for(
                "the secondary to be paged after 3 s without an answer", lambda: slack.messages_to("U0BOB")
            )

            receiver = f"http://127.0.0.1:{env['WARROOM_RECEIVER_PORT']}/slack/actions"
            body, headers = signed_interaction("U0BOB", incident)
            forged = httpx.post(
                receiver, content=body, headers={**headers, "X-Slack-Signature": "v0=" + "0" * 64}
            )
            assert forged.status_code == 401
            stale_body, stale = signed_interaction("U0BOB", incident, at=time.time() - 600)
            assert httpx.post(receiver, content=stale_body, headers=stale).status_code == 401
            pressed = httpx.post(receiver, content=body, headers=headers)
            assert pressed.status_code == 200, pressed.text
            assert pressed.json()["text"] == f"{incident} acknowledged by bob; commander: bob"

            shown = json.loads(warroom("incidents", "show", incident, "--json", env=env).stdout)["incident"]
            assert shown["roles"]["commander"] == "bob"
            assert shown["time_to_acknowledge_seconds"] >= 3
            text = warroom("incidents", "show", incident, env=env).stdout
            assert "time to acknowledge" in text
            store = Store(f"sqlite:///{Path(env['WARROOM_HOME']) / 'warroom.db'}")
            kinds = [e.kind for e in store.timeline(incident)]
            pages = store.pages(incident)
            room = store.room(incident)
            store.close()
            # The incident's room, kept by warroom up's keeper: the paged people in it, the page and the
            # acknowledgement told there, the commander in its topic.
            assert (
                room is not None and room.name == "inc-capacity-4"
            )  # as the runbook's communicate: names it
            channel = slack.channels[room.channel]
            assert {"U0ALICE", "U0BOB"} <= channel.members

            def told() -> str | None:
                text = "\n".join(m["text"] for m in list(channel.messages.values()))
                return text if "acknowledged by bob" in text and "commander: bob" in channel.topic else None

            assert "alice did not acknowledge within 3s" in wait_for(
                "the acknowledgement told in the room", told
            )
        finally:
            stop_up(up)
    assert kinds.count("page.sent") == 2 and kinds.count("page.escalated") == 1
    assert kinds.count("page.delivered") == 4 and "page.exhausted" not in kinds
    assert [(p.person, p.state.value) for p in pages] == [("alice", "escalated"), ("bob", "acknowledged")]
    assert [p.due_at - p.paged_at for p in pages] == [timedelta(seconds=3), timedelta(minutes=10)]
    assert pages[1].paged_at >= pages[0].due_at  # the secondary only after the primary's window
    assert len(hook_posts) == 2
    for headers_sent, raw in hook_posts:
        assert headers_sent["X-Warroom-Signature"] == f"sha256={hmac_hex('hook-secret', raw)}"
    assert [json.loads(raw)["person"] for _, raw in hook_posts] == ["alice", "bob"]


@pytest.fixture
def paging_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, dict[str, str]]]:
    (tmp_path / "oncall").mkdir()
    (tmp_path / "oncall" / "sre.yaml").write_text(SCHEDULE.replace("WINDOW", "1s"))
    env = {
        "WARROOM_HOME": str(tmp_path / "home"),
        "WARROOM_ONCALL_DIR": str(tmp_path / "oncall"),
        "WARROOM_RUNBOOKS_DIR": str(tmp_path / "runbooks"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    store = Store.from_settings()
    yield store, env
    store.close()


def test_a_severity_raised_to_a_paging_level_pages_and_warroom_ack_stops_the_escalation(
    paging_env: tuple[Store, dict[str, str]],
) -> None:
    store, env = paging_env
    opened = store.open_or_attach("db:slow", title="DB slow", severity=Severity.P3).incident
    assert start_paging(get_settings(), store, opened, None) is None  # P3 does not page
    raised = warroom(
        "incidents", "severity", opened.id, "P1", "--reason", "checkout down", "--as", "carol", env=env
    )
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert "paged alice as sre/primary" in raised.stdout
    acked = warroom("ack", opened.id, "--as", "alice", "--code", code("alice", Purpose.ACKNOWLEDGE), env=env)
    assert acked.returncode == 0 and "commander: alice" in acked.stdout, acked.stdout + acked.stderr
    time.sleep(1.2)
    assert escalate_due(get_settings(), store) == []
    # An escalation that lost the race with the acknowledgement pages nobody.
    assert page_step(get_settings(), store, store.get(opened.id), None, 1) is None
    timeline = store.timeline(opened.id)
    [policy] = [e for e in timeline if e.kind == "severity.policy"]
    assert policy.text.startswith("P1 (critical") and policy.text.endswith(
        "pages on-call (acknowledge within 15m)"
    )
    assert [p.state.value for p in store.pages(opened.id)] == ["acknowledged"]


def test_nobody_acknowledging_walks_the_whole_path_then_says_it_is_exhausted(
    paging_env: tuple[Store, dict[str, str]],
) -> None:
    store, _ = paging_env
    incident = store.open_or_attach("api:down", title="API down", severity=Severity.P1).incident
    first = start_paging(get_settings(), store, incident, None)
    assert first is not None and first.person == "alice"
    assert start_paging(get_settings(), store, incident, None) is None  # a re-entered run pages nobody twice
    assert escalate_due(get_settings(), store) == []  # not due yet
    time.sleep(1.1)
    assert escalate_due(get_settings(), store) == [f"{incident.id}: escalated past sre/primary"]
    assert escalate_due(get_settings(), store) == []
    assert not store.close_page(first, PageState.ESCALATED, "a second keeper")  # closed once, by one process
    time.sleep(1.1)
    assert escalate_due(get_settings(), store) == [f"{incident.id}: escalation path exhausted"]
    texts = [e.text for e in store.timeline(incident.id) if e.kind.startswith("page.")]
    assert texts[0].startswith("paged alice as sre/primary; acknowledge within 1s")
    assert texts[1] == "alice did not acknowledge within 1s"
    assert texts[2].startswith("paged bob as sre/secondary (escalated)")
    assert "the escalation path is exhausted" in texts[3]


def test_a_step_waits_its_own_window_and_a_window_off_the_path_is_refused(
    paging_env: tuple[Store, dict[str, str]],
) -> None:
    store, env = paging_env
    schedule = Path(env["WARROOM_ONCALL_DIR"]) / "sre.yaml"
    schedule.write_text(SCHEDULE.replace("WINDOW", "1s, windows: {secondary: 2m}"))
    incident = store.open_or_attach("api:down", title="API down", severity=Severity.P1).incident
    assert start_paging(get_settings(), store, incident, None) is not None
    time.sleep(1.1)
    assert escalate_due(get_settings(), store) == [f"{incident.id}: escalated past sre/primary"]
    time.sleep(1.1)
    assert escalate_due(get_settings(), store) == []  # the secondary has two minutes, not one second
    bob = store.pages(incident.id)[1]
    assert (bob.person, bob.due_at - bob.paged_at) == ("bob", timedelta(minutes=2))
    [sent] = [e for e in store.timeline(incident.id) if e.kind == "page.sent" and e.data["step"] == 1]
    assert "acknowledge within 2m" in sent.text

    schedule.write_text(SCHEDULE.replace("WINDOW", "1s, windows: {tertiary: 2m}"))
    checked = warroom("oncall", "check", env=env)
    assert checked.returncode != 0
    assert "'tertiary' is not on the path (primary, secondary)" in checked.stdout + checked.stderr


def test_the_load_report_over_a_quarter_warns_of_a_hero_and_of_nights_woken(
    paging_env: tuple[Store, dict[str, str]],
) -> None:
    store, env = paging_env
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    schedule = [("alice", 3, 40), ("bob", 14, 6), ("carol", 11, 5)]  # who, hour of the page (UTC), how many
    for person, hour, count in schedule:
        for i in range(count):
            at = (now - timedelta(days=2 + i * 2)).replace(hour=hour)
            opened = store.open_or_attach(f"gen:{person}:{i}", title="generated", severity=Severity.P2, at=at)
            store.open_page(
                opened.incident.number, 0, "sre/primary", person, at + timedelta(minutes=15), "paged", at=at
            )
            store.assign_role(opened.incident.number, Role.COMMANDER, person)
    result = warroom("oncall", "load", "--since", "90d", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    load = {row["person"]: row for row in json.loads(result.stdout)["load"]}
    assert load["alice"]["pages"] == 40 and load["alice"]["commanded"] == 40
    assert load["alice"]["off_hours"] >= 30  # 03:00 UTC, and weekends
    assert any(w.startswith("hero: 40 pages") for w in load["alice"]["warnings"])
    assert any(w.startswith("burnout:") for w in load["alice"]["warnings"])
    assert not any(w.startswith("hero") for w in load["bob"]["warnings"] + load["carol"]["warnings"])
    assert load["alice"]["hours_on_call"] > 0 and load["bob"]["hours_on_call"] > 0
    table = warroom("oncall", "load", "--since", "90d", env=env)
    assert "warning: alice: hero" in table.stdout


def _ack_through_the_ui(incident: str, person: str, code: str) -> tuple[str, dict[str, Any]]:
    """Run the acknowledge deployment's flow as its Run button does, then type ``code`` into the form its
    paused run shows (the UI's resume call). Its outcome (or error text) and the run as Prefect holds it."""
    from prefect.settings import PREFECT_API_URL

    from flows.acknowledge import acknowledge
    from tests.flow_helpers import resume_as_the_ui

    result: dict[str, str] = {}

    def run() -> None:
        try:
            result["said"] = acknowledge(incident, person)
        except Exception as exc:
            result["said"] = f"{type(exc).__name__}: {exc}"

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), daemon=True)
    thread.start()
    api = PREFECT_API_URL.value()
    deadline = time.monotonic() + 60
    paused = None
    while paused is None and time.monotonic() < deadline:
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
            timeout=30,
        ).json()
        paused = next((r for r in runs if r["parameters"].get("incident") == incident), None)
        time.sleep(0.1)
    assert paused is not None, "the acknowledge run never asked for its code"
    assert resume_as_the_ui(paused["id"], {"code": code}) == "ACCEPT"
    thread.join(60)
    assert not thread.is_alive()
    return result["said"], paused


def test_acknowledging_from_the_prefect_ui_asks_for_its_own_code_on_the_run_never_as_a_parameter(
    prefect_api: str, paging_env: tuple[Store, dict[str, str]]
) -> None:
    """Finding 2: the code was a run parameter, readable while the run waited for a worker, and an
    approval code too. Now the run asks for it on its form, from the acknowledgement secret only."""
    from tests.flow_helpers import enrolled
    from warroom.identity import Purpose

    store, _ = paging_env
    ack = enrolled("alice", Purpose.ACKNOWLEDGE)
    approve = enrolled("alice", Purpose.APPROVE)
    first = store.open_or_attach("ui:1", title="UI ack", severity=Severity.P1).incident
    second = store.open_or_attach("ui:2", title="UI ack too", severity=Severity.P1).incident
    start_paging(get_settings(), store, first, None)
    wrong = "000000" if ack.now() != "000000" else "111111"
    said, run = _ack_through_the_ui(first.id, "alice", wrong)
    assert "wrong one-time acknowledgement code for alice" in said
    assert set(run["parameters"]) == {"incident", "person"}  # no code waits in Prefect
    said, _ = _ack_through_the_ui(first.id, "alice", fresh_code(approve))  # an approval code proves no ack
    assert "wrong one-time acknowledgement code for alice" in said
    assert store.get(first.id).acknowledged_at is None
    code = fresh_code(ack)
    said, run = _ack_through_the_ui(first.id, "alice", code)
    assert said == f"{first.id} acknowledged by alice; commander: alice"
    gone = httpx.get(
        f"{prefect_api}/flow_runs/{run['id']}/input/{run['state']['state_details']['run_input_keyset']['response']}"
    )
    assert gone.status_code == 404  # read once, then deleted from Prefect's input store
    said, _ = _ack_through_the_ui(second.id, "alice", code)
    assert "one-time code already used by alice" in said
    said, _ = _ack_through_the_ui(second.id, "mallory", code)
    assert "mallory is not enrolled" in said
    kinds = [e.kind for e in store.timeline(first.id)]
    assert "incident.acknowledge_refused" in kinds and "incident.acknowledged" in kinds
    assert [p.state.value for p in store.pages(first.id)] == ["acknowledged"]
    assert store.get(second.id).acknowledged_at is None


def test_a_resolved_incident_is_not_acknowledged_from_the_ui_or_anywhere(
    prefect_api: str, paging_env: tuple[Store, dict[str, str]]
) -> None:
    from flows.acknowledge import NotAcknowledged, acknowledge
    from warroom.acknowledge import acknowledge as take
    from warroom.incident import Status

    store, _ = paging_env
    done = store.open_or_attach("ui:resolved", title="over", severity=Severity.P2).incident
    for status in (
        Status.TRIAGED,
        Status.INVESTIGATING,
        Status.MITIGATING,
        Status.MONITORING,
        Status.RESOLVED,
    ):
        store.set_status(done.number, status)
    with pytest.raises(NotAcknowledged, match=f"{done.id} is resolved: there is nothing to acknowledge"):
        acknowledge(done.id, "alice")  # refused before it asks anyone for a code
    with pytest.raises(ValueError, match="is resolved"):
        take(store, done.number, "alice", via="slack")
    assert store.get(done.id).acknowledged_at is None


def test_a_p1_no_runbook_matches_gets_the_policy_the_plan_the_roles_and_a_page_within_seconds(
    paging_env: tuple[Store, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PagerDuty P1 for a service with no runbook: triaged by policy alone, as a run would triage it."""
    import hashlib
    import hmac

    from fastapi.testclient import TestClient

    from deployments.serve import build_intake
    from tests import payloads

    store, env = paging_env
    schedule = Path(env["WARROOM_ONCALL_DIR"]) / "sre.yaml"
    schedule.write_text(
        schedule.read_text().replace(
            "  - {name: secondary, members: [bob]}",
            "  - {name: secondary, members: [bob]}\n  - {name: comms, members: [carol]}",
        )
    )
    with webhook_peer() as (hook, hook_posts):
        monkeypatch.setenv("WARROOM_PAGE_CHANNELS", '["webhook"]')
        monkeypatch.setenv("WARROOM_PAGE_WEBHOOK_URL", hook)
        monkeypatch.setenv("WARROOM_PAGE_WEBHOOK_SECRET", "hook-secret")
        monkeypatch.setenv("WARROOM_PAGERDUTY_WEBHOOK_SECRETS", '["pd-secret"]')
        get_settings.cache_clear()
        intake = build_intake(get_settings())
        intake.loop.start()
        try:
            raw = json.dumps(payloads.pagerduty()).encode()
            sig = hmac.new(b"pd-secret", raw, hashlib.sha256).hexdigest()
            with TestClient(intake.app) as client:
                posted = client.post(
                    "/alerts/pagerduty", content=raw, headers={"X-PagerDuty-Signature": f"v1={sig}"}
                )
            assert posted.status_code == 202, posted.text
            [routed] = posted.json()["results"]
            assert routed["runbook"] is None and routed["action"] == "opened"
            incident = routed["incident"]
            wait_for("the primary to be paged for a P1 no runbook matches", lambda: hook_posts)
            wait_for("the incident to be triaged", lambda: store.get(incident).status.value == "triaged")
        finally:
            intake.loop.stop()
            intake.loop.join(10)
            intake.store.close()
    triaged = store.get(incident)
    assert triaged.severity is Severity.P1 and triaged.title == "Checkout latency over SLO"  # said once
    assert triaged.roles.comms_lead == "carol" and triaged.roles.commander is None  # the acknowledger leads
    events = store.timeline(incident)
    kinds = [e.kind for e in events]
    for kind in ("severity.policy", "communication.planned", "postmortem.planned", "page.sent"):
        assert kinds.count(kind) == 1, (kind, kinds)
    [policy] = [e for e in events if e.kind == "severity.policy"]
    assert policy.text.startswith("P1 (critical") and policy.data["page"] is True
    [talk] = [e for e in events if e.kind == "communication.planned"]
    assert talk.data["status_page"] is True and talk.data["update_every"]
    [owed] = [e for e in events if e.kind == "postmortem.planned"]
    assert owed.data["required"] is True
    assert [p.person for p in store.pages(incident)] == ["alice"]
    assert json.loads(hook_posts[0][1])["person"] == "alice"


@pytest.mark.parametrize(("level_window", "schedule_window", "waits"), [("5m", "1h", 300), ("15m", "1s", 1)])
def test_a_page_waits_the_shorter_of_the_level_and_the_schedule_windows(
    paging_env: tuple[Store, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    level_window: str,
    schedule_window: str,
    waits: float,
) -> None:
    store, env = paging_env
    schedule = Path(env["WARROOM_ONCALL_DIR"]) / "sre.yaml"
    schedule.write_text(SCHEDULE.replace("WINDOW", schedule_window))
    monkeypatch.setenv("WARROOM_SEVERITY", json.dumps({"P1": {"ack_within": level_window}}))
    get_settings.cache_clear()
    incident = store.open_or_attach("api:down", title="API down", severity=Severity.P1).incident
    page = start_paging(get_settings(), store, incident, None)
    assert page is not None and (page.due_at - page.paged_at).total_seconds() == waits
