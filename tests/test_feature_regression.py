"""The shipped feature-regression runbook end to end: a real Unleash server, a service that evaluates the
flag through Unleash's client API and fails while it is on, the respond flow, an approval, the flag off,
the service healthy again, resolved."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows.answer import answer_gate
from tests.conftest import REPO
from tests.flow_helpers import FlowThread, code, wait_for_gate, wait_for_incident
from tests.unleash_server import ADMIN_TOKEN, UnleashServer
from warroom.ledger import Store
from warroom.settings import get_settings


@contextmanager
def checkout_service(unleash: UnleashServer, flag: str) -> Iterator[str]:
    """/checkout answers 500 while the new code path (behind ``flag``) is on, 200 once it is off."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status = 500 if unleash.evaluated_on(flag) else 200
            raw = json.dumps({"ok": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/checkout"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(
    prefect_api: str, ledger: str, unleash: UnleashServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Store]:
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    monkeypatch.setenv("WARROOM_DATABASE_URL", ledger)
    monkeypatch.setenv("WARROOM_APPROVER_GROUPS", json.dumps({"sre": ["alice", "bob"]}))
    monkeypatch.setenv("WARROOM_ONCALL", '{"primary": ["bob"]}')
    monkeypatch.setenv("WARROOM_UNLEASH_URL", unleash.url)
    monkeypatch.setenv("WARROOM_UNLEASH_TOKEN", ADMIN_TOKEN)
    get_settings.cache_clear()
    store = Store.from_settings()
    yield store
    store.close()
    get_settings.cache_clear()


def test_a_regressing_feature_is_turned_off_in_unleash_after_approval_and_verified(
    env: Store, unleash: UnleashServer
) -> None:
    unleash.feature("fast-checkout")
    with checkout_service(unleash, "fast-checkout") as endpoint:
        alert = {
            "labels": {"alertname": "FeatureRegression", "flag": "fast-checkout", "customer_facing": "true"},
            "annotations": {"endpoint": endpoint},
            "fingerprint": "fast-checkout-regression",
        }
        thread = FlowThread(
            runbook="feature-regression",
            params={"provider": "unleash", "verify_for": "3s"},
            alert=alert,
            dedup_key="feature-regression:fast-checkout",
        )
        thread.start()
        incident = wait_for_incident(env, "feature-regression:fast-checkout")
        gate = wait_for_gate(incident.id)
        assert gate.proposal == "disable_flag" and unleash.evaluated_on("fast-checkout")
        outcome = answer_gate(
            env, incident.id, approver="alice", code=code("alice"), reason="flag broke checkout"
        )
        assert outcome.verdict == "granted", outcome.text
        result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "resolved"
    assert not unleash.evaluated_on("fast-checkout")
    assert unleash.environments("fast-checkout")["development"][0] is False  # only production was touched
    timeline = env.timeline(incident.id)
    [state] = [e for e in timeline if e.kind == "diagnostic.result" and "fast-checkout" in e.text]
    assert "is on" in state.text
    [proposed] = [e for e in timeline if e.kind == "mitigation.proposed"]
    assert "would turn unleash flag 'fast-checkout'" in json.dumps(proposed.data)
    assert [e.data.get("to") for e in timeline if e.kind == "status.changed"][-1] == "resolved"
    assert env.get(incident.id).severity.value == "P2"  # customer_facing
