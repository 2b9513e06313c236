"""Bad input at the receiver and at /slack/actions: always a 4xx that says why, never a 500, and the raw
body kept as `rejected` (or `accepted`/`ignored`), never left `received`. Each sender authenticates as the
format asks, so the bodies reach the parsers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import payloads
from tests.peers.slack import SIGNING_SECRET
from tests.test_intake import AUTH, Intake, intake, sns_peer  # noqa: F401 - fixtures

FORMATS = ["alertmanager", "generic", "grafana", "pagerduty", "sns"]


@pytest.fixture
def slack_signed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WARROOM_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    yield


def _send(intake: Intake, source: str, raw: bytes) -> Any:
    """POST ``raw`` as ``source`` with that sender's credentials (SNS: AWS's signature on the message)."""
    headers = dict(AUTH)
    if source == "grafana":
        headers["X-Warroom-Signature"] = "sha256=" + hmac.new(b"gf-secret", raw, hashlib.sha256).hexdigest()
    if source == "pagerduty":
        headers["X-PagerDuty-Signature"] = "v1=" + hmac.new(b"pd-secret", raw, hashlib.sha256).hexdigest()
    if source == "sns":
        cert = f"{intake.sns_base}/sns/cert.pem"
        envelope = intake.signer.sign(
            {**payloads.sns_notification(cert, {}), "Message": raw.decode("utf-8", "replace")}
        )
        raw = json.dumps(envelope).encode()
    return intake.client.post(f"/alerts/{source}", content=raw, headers=headers)


def _slack(intake: Intake, payload_text: str) -> Any:
    body = urlencode({"payload": payload_text}).encode()
    stamp = str(int(time.time()))
    signature = (
        "v0="
        + hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    )
    headers = {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return intake.client.post("/slack/actions", content=body, headers=headers)


def _kept(intake: Intake, resp: Any) -> str:
    payload_id = resp.json().get("payload_id")
    assert payload_id is not None, resp.text
    stored = intake.store.payload(payload_id)
    assert stored.state != "received", stored
    return str(stored.state)


@pytest.mark.parametrize("source", ["alertmanager", "generic", "grafana", "pagerduty"])
def test_a_label_holding_a_huge_integer_is_a_400_and_kept_as_rejected(intake: Intake, source: str) -> None:
    """Finding 6: 50,000 digits (past Python's 4,300-digit int-string limit) was a 500, payload `received`."""
    raw = b'{"alerts": [{"labels": {"alertname": "X", "shard": ' + b"9" * 50_000 + b'}}], "event": {}}'
    resp = _send(intake, source, raw)
    assert resp.status_code == 400, resp.text
    assert "invalid JSON" in resp.json()["error"] and "digits" in resp.json()["error"]
    assert _kept(intake, resp) == "rejected"
    assert intake.store.payload(resp.json()["payload_id"]).body == raw


def test_a_signed_deeply_nested_slack_interaction_is_a_400_and_kept_as_rejected(
    slack_signed: None, intake: Intake
) -> None:
    """Finding 6: a validly signed interaction nested 10,000 deep was a 500 and kept nothing."""
    resp = _slack(intake, "[" * 10_000 + "]" * 10_000)
    assert resp.status_code == 400 and "nested deeper" in resp.json()["error"], resp.text
    assert _kept(intake, resp) == "rejected"
    wrong_shape = _slack(intake, json.dumps({"actions": "ack", "user": []}))
    assert wrong_shape.status_code == 400 and "'actions' must be a list" in wrong_shape.json()["error"]
    assert _kept(intake, wrong_shape) == "rejected"


huge_int = st.integers(min_value=4_000, max_value=12_000).map(lambda n: "9" * n)
leaves = (
    st.none().map(lambda _: "null")
    | st.booleans().map(json.dumps)
    | st.integers().map(str)
    | huge_int
    | st.floats(allow_nan=False, allow_infinity=False).map(json.dumps)
    | st.text(max_size=20).map(json.dumps)
)
json_text = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.dictionaries(
            st.sampled_from(
                [
                    "alerts",
                    "labels",
                    "annotations",
                    "status",
                    "event",
                    "data",
                    "title",
                    "actions",
                    "user",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        ).map(lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}")
    ),
    max_leaves=25,
)
deep = st.integers(min_value=30, max_value=3_000).map(lambda n: "[" * n + "]" * n)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from([*FORMATS, "slack"]), text=json_text | deep | st.text(max_size=50))
def test_generated_json_at_every_format_never_gets_a_5xx_and_never_stays_received(
    slack_signed: None, intake: Intake, source: str, text: str
) -> None:
    resp = _slack(intake, text) if source == "slack" else _send(intake, source, text.encode())
    assert resp.status_code < 500, resp.text
    assert resp.status_code in (200, 202, 400, 401, 422), resp.text
    body = resp.json()
    if resp.status_code >= 400:
        assert body.get("error"), resp.text  # it says why
    if resp.status_code != 401 and not (source == "slack" and resp.status_code == 200):
        _kept(intake, resp)  # (a 401 stores nothing; Slack's 200 is answered in Slack's words)
    assert not [p.id for p in intake.store.payloads() if p.state == "received"]


def test_a_body_the_ledger_could_not_route_is_kept_with_why_and_answered_500(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Read, kept, then routing fails (here the runbook catalogue cannot be read): no 2xx, so the sender
    sends it again, and the ledger keeps the body marked not routed, with the reason."""
    from fastapi.testclient import TestClient

    from warroom.intake.receiver import create_app
    from warroom.intake.router import Router
    from warroom.ledger import Store
    from warroom.settings import get_settings

    monkeypatch.setenv("WARROOM_INTAKE_TOKENS", json.dumps({"*": "route-test-token"}))
    get_settings.cache_clear()
    s = get_settings()
    store = Store.from_settings(s)

    def unreadable_catalogue() -> Any:
        raise OSError(f"cannot read {tmp_path / 'runbooks'}")

    router = Router(store, unreadable_catalogue, s.default_severity)
    raw = json.dumps(payloads.alertmanager()).encode()
    headers = {"Authorization": "Bearer route-test-token"}
    with TestClient(create_app(s, store, router), raise_server_exceptions=False) as client:
        resp = client.post("/alerts/alertmanager", content=raw, headers=headers)
    assert resp.status_code == 500
    [kept] = store.payloads()
    assert kept.body == raw and kept.state == "received" and kept.alerts == 1
    assert kept.error is not None and kept.error.startswith("not routed: OSError: cannot read")
    store.close()
