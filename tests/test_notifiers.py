"""Notifiers against loopback peers that answer as the vendors document (PagerDuty Events API v2, Opsgenie
Alert API v2): what is sent, what a refusal says (never the key), and a channel that is down recorded on
the timeline while the page and its escalation go on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.paging import start_paging
from tasks.notifiers import NOTIFIERS, Notice, NotifyError, notifier
from tasks.notifiers.opsgenie import OpsgenieSettings
from tasks.notifiers.pagerduty import PagerDutySettings
from tests.conftest import REPO
from tests.net import free_port
from warroom.incident import Severity
from warroom.ledger import Store
from warroom.settings import Settings, get_settings

NOTICE = Notice(
    incident="INC-7",
    title="checkout 5xx",
    severity="P1",
    person="alice",
    target="sre/primary",
    step=0,
    ack_within_seconds=900,
    email="alice@example.com",
)


@contextmanager
def vendor(
    status: int, answer: dict[str, Any]
) -> Iterator[tuple[str, list[tuple[str, dict[str, str], Any]]]]:
    got: list[tuple[str, dict[str, str], Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            got.append((self.path, dict(self.headers), body))
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()


def test_every_notifier_module_is_registered() -> None:
    modules = {p.stem for p in (REPO / "tasks" / "notifiers").glob("*.py")} - {"__init__", "base"}
    assert set(NOTIFIERS) == modules == {"opsgenie", "pagerduty", "slack", "webhook"}
    with pytest.raises(NotifyError, match="no notifier 'sms'"):
        notifier("sms")


def test_pagerduty_gets_one_trigger_per_incident_and_its_refusal_never_shows_the_key() -> None:
    ok = {"status": "success", "message": "Event processed", "dedup_key": "warroom-INC-7"}
    with vendor(202, ok) as (url, got):
        settings = Settings().given(PagerDutySettings(events_url=url, routing_key="R0UTINGKEY0123456789"))
        assert notifier("pagerduty").send(NOTICE, settings) == "dedup key warroom-INC-7"
    [(path, _, event)] = got
    assert path == "/v2/enqueue"
    assert (event["event_action"], event["dedup_key"], event["payload"]["severity"]) == (
        "trigger",
        "warroom-INC-7",
        "critical",
    )
    assert event["payload"]["custom_details"]["ack"] == "warroom ack INC-7 --as alice"
    bad = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
    }
    with vendor(400, bad) as (url, _), pytest.raises(NotifyError) as refused:
        notifier("pagerduty").send(
            NOTICE,
            Settings().given(PagerDutySettings(events_url=url, routing_key="R0UTINGKEY0123456789")),
        )  # type: ignore[arg-type]
    assert "400" in str(refused.value) and "routing_key" in str(refused.value)
    assert "R0UTINGKEY0123456789" not in str(refused.value)


def test_opsgenie_gets_an_alert_aliased_to_the_incident_for_the_paged_person() -> None:
    accepted = {"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf"}
    with vendor(202, accepted) as (url, got):
        settings = Settings().given(OpsgenieSettings(url=url, api_key="genie-key-0123"))
        assert notifier("opsgenie").send(NOTICE, settings) == "request 43a29c5c-3dbf"
    [(path, headers, alert)] = got
    assert path == "/v2/alerts" and headers["Authorization"] == "GenieKey genie-key-0123"
    assert (alert["alias"], alert["priority"]) == ("warroom-INC-7", "P1")
    assert alert["responders"] == [{"type": "user", "username": "alice@example.com"}]
    with vendor(422, {"message": "Request body is not processable", "took": 0.0}) as (url, _):
        with pytest.raises(NotifyError, match=r"opsgenie: 422 .*not processable"):
            notifier("opsgenie").send(
                NOTICE, Settings().given(OpsgenieSettings(url=url, api_key="genie-key-0123"))
            )


def test_a_channel_that_is_down_is_on_the_timeline_and_the_page_still_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_ONCALL", '{"primary": ["alice"], "secondary": ["bob"]}')
    monkeypatch.setenv("WARROOM_PAGE_CHANNELS", '["webhook", "slack"]')
    monkeypatch.setenv("WARROOM_PAGE_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/down")
    get_settings.cache_clear()
    store = Store.from_settings()
    incident = store.open_or_attach("api:down", title="API down", severity=Severity.P1).incident
    page = start_paging(get_settings(), store, incident, None)
    assert page is not None and page.person == "alice" and page.target == "primary"
    failed = [e.text for e in store.timeline(incident.id) if e.kind == "page.failed"]
    store.close()
    assert failed[0].startswith("page to alice by webhook failed: webhook: cannot reach it")
    assert (
        failed[1]
        == "page to alice by slack failed: slack: set WARROOM_SLACK_TOKEN (a bot token with chat:write)"
    )
