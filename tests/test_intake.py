"""The alert receiver: formats, credentials, bad input kept and answered 4xx, dedup, resolved alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import payloads
from tests.conftest import REPO
from warroom.intake.alert import AlertStatus, PayloadError
from warroom.intake.formats.alertmanager import parse_alertmanager
from warroom.intake.formats.generic import parse_generic
from warroom.intake.formats.grafana import parse_grafana
from warroom.intake.formats.pagerduty import parse_pagerduty
from warroom.intake.receiver import create_app
from warroom.intake.router import Router
from warroom.ledger import Store
from warroom.postmortem.document import draft
from warroom.postmortem.figures import compute
from warroom.render import timeline_markdown
from warroom.runbook import catalogue_of
from warroom.settings import get_settings

TOKEN = "t0ken-for-tests-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Intake:
    client: TestClient
    store: Store
    sns_base: str
    sns_hits: list[str]
    signer: payloads.SnsSigner
    woken: list[int]  # each time the router woke the launch loop: the launches it could see due


@pytest.fixture
def sns_peer(tmp_path: Path) -> Iterator[tuple[str, list[str], payloads.SnsSigner]]:
    """A loopback stand-in for SNS: serves the signing certificate and records subscription confirmations."""
    signer = payloads.SnsSigner(tmp_path)
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            body = signer.pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits, signer
    server.shutdown()
    server.server_close()


@pytest.fixture
def intake(
    monkeypatch: pytest.MonkeyPatch, sns_peer: tuple[str, list[str], payloads.SnsSigner]
) -> Iterator[Intake]:
    base, hits, signer = sns_peer
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    monkeypatch.setenv("WARROOM_INTAKE_TOKENS", json.dumps({"*": TOKEN}))
    monkeypatch.setenv("WARROOM_INTAKE_HMAC_SECRETS", json.dumps({"grafana": "gf-secret"}))
    monkeypatch.setenv("WARROOM_PAGERDUTY_WEBHOOK_SECRETS", json.dumps(["old-secret", "pd-secret"]))
    # The loopback peer stands in for SNS; in production only https://sns.<region>.amazonaws.com/ is trusted.
    monkeypatch.setenv("WARROOM_SNS_TRUSTED_URL_PATTERN", r"^http://127\.0\.0\.1:\d+/sns/")
    monkeypatch.setenv("WARROOM_INTAKE_MAX_BODY_BYTES", "65536")
    get_settings.cache_clear()
    s = get_settings()
    store = Store.from_settings(s)
    looker = Store.from_settings(s)  # the launch loop's own connection: it sees only what is committed
    woken: list[int] = []
    router = Router(
        store,
        partial(catalogue_of, s.runbooks_dir),
        s.default_severity,
        lambda: woken.append(len(looker.due_launches())),
    )
    with TestClient(create_app(s, store, router)) as client:
        yield Intake(client, store, base, hits, signer, woken)
    looker.close()
    store.close()


def post(intake: Intake, source: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return intake.client.post(f"/alerts/{source}", content=raw, headers={**AUTH, **(headers or {})})


# --- formats ------------------------------------------------------------------------------------------------


def test_alertmanager_v4() -> None:
    body = payloads.alertmanager()
    body["alerts"].append(
        {
            **body["alerts"][0],
            "status": "resolved",
            "fingerprint": "ffff000011112222",
            "endsAt": "2026-11-27T06:30:00Z",
        }
    )
    firing, resolved = parse_alertmanager(body)
    assert firing.status is AlertStatus.FIRING and firing.ends_at is None  # 0001-01-01 means still firing
    assert firing.fingerprint == "7c1ab3e3f2a1b0c9" and firing.group_key == '{}:{alertname="HighErrorRate"}'
    assert firing.labels["deployment"] == "checkout" and firing.generator_url.startswith("http://prometheus")
    assert firing.annotations["runbook_url"].startswith("https://")  # common annotations kept
    assert resolved.status is AlertStatus.RESOLVED and resolved.ends_at is not None


def test_grafana() -> None:
    [alert] = parse_grafana(payloads.grafana())
    assert alert.source == "grafana" and alert.extra["values"] == {"B": 42.0, "C": 1}
    assert alert.extra["dashboard_url"] == "http://grafana.example/d/abc" and alert.extra["org_id"] == 1


def test_pagerduty_v3() -> None:
    [fired] = parse_pagerduty(payloads.pagerduty())
    assert fired.status is AlertStatus.FIRING and fired.labels["service"] == "checkout"
    assert fired.fingerprint == "d3640fbd41094207a1c11e58e46b1662" and fired.labels["severity"] == "critical"
    [resolved] = parse_pagerduty(payloads.pagerduty("incident.resolved"))
    assert resolved.status is AlertStatus.RESOLVED
    assert parse_pagerduty(payloads.pagerduty("incident.acknowledged")) == []


def test_generic_single_and_batch() -> None:
    [one] = parse_generic({"title": "Queue backlog", "labels": {"queue": "emails"}})
    assert one.labels == {"alertname": "Queue backlog", "queue": "emails"} and one.fingerprint
    two = parse_generic({"alerts": [{"title": "a"}, {"title": "b", "status": "resolved"}]})
    assert [a.status for a in two] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b["alerts"][0].pop("startsAt"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(status="burning"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(labels=["x"]), "alerts[0].labels"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b.update(version="3"), "version"),
    ],
)
def test_malformed_alertmanager_names_the_field(mutate: Any, field: str) -> None:
    body = payloads.alertmanager()
    mutate(body)
    with pytest.raises(PayloadError) as info:
        parse_alertmanager(body)
    assert info.value.field == field


# --- the receiver -------------------------------------------------------------------------------------------


def test_alert_opens_an_incident_whose_first_event_is_the_alert(intake: Intake) -> None:
    resp = post(intake, "alertmanager", payloads.alertmanager())
    assert resp.status_code == 202, resp.text
    [result] = resp.json()["results"]
    assert result["action"] == "opened" and result["runbook"] == "k8s-bad-deploy" and result["launch_queued"]
    events = intake.store.timeline(result["incident"])
    assert events[0].kind == "alert.firing" and "HighErrorRate" in events[0].text
    incident = intake.store.get(result["incident"])
    assert incident.severity.value == "P1" and incident.dedup_key == "k8s-bad-deploy:7c1ab3e3f2a1b0c9"
    [launch] = intake.store.launches(incident.number)
    assert launch.state == "pending" and launch.alert["labels"]["deployment"] == "checkout"
    payload = intake.store.payload(resp.json()["payload_id"])
    assert payload.state == "accepted" and json.loads(payload.body) == payloads.alertmanager()
    # The body, the incident and the launch are one transaction, and the launch loop is woken after it:
    # woken before, it would find nothing due and sleep until its next look.
    assert intake.woken == [1]


def test_refired_alert_attaches_and_launches_nothing_new(intake: Intake) -> None:
    first = post(intake, "alertmanager", payloads.alertmanager()).json()["results"][0]
    again = post(intake, "alertmanager", payloads.alertmanager()).json()["results"][0]
    assert (
        again["action"] == "attached"
        and again["incident"] == first["incident"]
        and not again["launch_queued"]
    )
    assert len(intake.store.launches()) == 1
    kinds = [e.kind for e in intake.store.timeline(first["incident"])]
    assert kinds == ["alert.firing", "alert.firing"]


def test_a_repeating_alert_reads_as_one_row_numbered_within_its_incident_and_keeps_every_payload(
    intake: Intake,
) -> None:
    # Alertmanager re-sends a firing group every repeat interval: 28 notifications of one alert.
    other = post(intake, "alertmanager", payloads.alertmanager(fingerprint="00000000000000aa"))
    answers = [post(intake, "alertmanager", payloads.alertmanager()) for _ in range(28)]
    number = answers[0].json()["results"][0]["incident"]
    intake.store.append(number, "note", "rolled back by hand", actor="alice")
    post(intake, "alertmanager", payloads.alertmanager())
    refired = payloads.alertmanager(starts_at="2026-11-27T07:00:00.000Z")
    post(intake, "alertmanager", refired)

    events = intake.store.timeline(number)
    assert [e.kind for e in events].count("alert.firing") == 30, "every notification stays in the ledger"
    assert {intake.store.payload(a.json()["payload_id"]).state for a in answers} == {"accepted"}

    incident = intake.store.get(number)
    table = [line for line in timeline_markdown(incident, events).splitlines() if line.startswith("| ")][1:]
    assert len(table) == 3, table
    assert table[0].startswith("| 1 |") and "firing, 29 notifications since" in table[0]
    assert table[1].startswith("| 29 |") and "rolled back by hand" in table[1]
    assert table[2].startswith("| 31 |") and "notifications" not in table[2], "a new start is a new row"
    assert other.json()["results"][0]["incident"] != number
    other_number = other.json()["results"][0]["incident"]
    first_other = timeline_markdown(intake.store.get(other_number), intake.store.timeline(other_number))
    assert "| 1 |" in first_other, "each incident numbers its own events from 1"

    sections = {s.key: s.body for s in draft(incident, events, [], compute(incident, events))}
    timeline = sections["timeline"]
    detected = [line for line in timeline.splitlines() if "detected:" in line]
    assert len(detected) == 2 and "29 notifications" in detected[0]


def test_alerts_posted_at_once_are_all_kept_and_open_one_incident_per_fingerprint(intake: Intake) -> None:
    # Twenty request threads at once take turns at the (SQLite) ledger: none is lost, none waits forever.
    answers: list[Any] = []

    def send(n: int) -> None:
        answers.append(post(intake, "alertmanager", payloads.alertmanager(fingerprint=f"{n % 5:016x}")))

    threads = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(20)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    assert [a.status_code for a in answers] == [202] * 20
    results = [a.json()["results"][0] for a in answers]
    assert sorted(r["action"] for r in results) == ["attached"] * 15 + ["opened"] * 5
    assert {intake.store.payload(a.json()["payload_id"]).state for a in answers} == {"accepted"}
    assert len(intake.store.launches()) == 5
    for number in {r["incident"] for r in results}:
        assert [e.kind for e in intake.store.timeline(number)] == ["alert.firing"] * 4


def test_resolved_alert_is_recorded_and_starts_nothing(intake: Intake) -> None:
    nothing = post(intake, "alertmanager", payloads.alertmanager(status="resolved")).json()["results"][0]
    assert nothing["action"] == "resolved_without_incident" and nothing["incident"] is None
    assert intake.store.count_incidents() == 0 and intake.store.launches() == []
    opened = post(intake, "alertmanager", payloads.alertmanager()).json()["results"][0]
    resolved = post(intake, "alertmanager", payloads.alertmanager(status="resolved")).json()["results"][0]
    assert resolved["action"] == "resolved" and resolved["incident"] == opened["incident"]
    assert len(intake.store.launches()) == 1
    assert intake.store.timeline(opened["incident"])[-1].kind == "alert.resolved"


def test_unmatched_alert_still_opens_an_incident_and_says_so(intake: Intake) -> None:
    body = payloads.alertmanager(alertname="SomethingNew", labels={"severity": "warning"})
    result = post(intake, "alertmanager", body).json()["results"][0]
    assert result["runbook"] is None and result["action"] == "opened"
    events = intake.store.timeline(result["incident"])
    assert events[1].kind == "triage" and "no runbook matches" in events[1].text
    assert intake.store.get(result["incident"]).severity.value == "P3"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401_and_nothing_is_stored(intake: Intake, headers: dict[str, str]) -> None:
    raw = json.dumps(payloads.alertmanager()).encode()
    resp = intake.client.post("/alerts/alertmanager", content=raw, headers=headers)
    assert resp.status_code == 401 and "bearer token" in resp.json()["error"]
    assert intake.store.payloads() == []


def test_hmac_signature(intake: Intake) -> None:
    raw = json.dumps(payloads.grafana()).encode()
    good = "sha256=" + hmac.new(b"gf-secret", raw, hashlib.sha256).hexdigest()
    assert (
        intake.client.post("/alerts/grafana", content=raw, headers={"X-Warroom-Signature": good}).status_code
        == 202
    )
    bad = intake.client.post("/alerts/grafana", content=raw, headers={"X-Warroom-Signature": "sha256=00"})
    assert bad.status_code == 401 and len(intake.store.payloads()) == 1


def test_pagerduty_signature_with_rotated_secrets(intake: Intake) -> None:
    raw = json.dumps(payloads.pagerduty()).encode()
    sig = hmac.new(b"pd-secret", raw, hashlib.sha256).hexdigest()
    ok = intake.client.post(
        "/alerts/pagerduty", content=raw, headers={"X-PagerDuty-Signature": f"v1=abc,v1={sig}"}
    )
    assert ok.status_code == 202 and ok.json()["alerts"] == 1
    forged = intake.client.post(
        "/alerts/pagerduty", content=raw, headers={"X-PagerDuty-Signature": "v1=deadbeef"}
    )
    assert forged.status_code == 401


@pytest.mark.parametrize(
    ("source", "body", "status", "field"),
    [
        ("alertmanager", b"{not json", 400, "<body>"),
        ("alertmanager", b"\xff\xfe\x00", 400, "<body>"),
        ("alertmanager", b"[]", 422, "<body>"),
        ("alertmanager", json.dumps({"alerts": [{"status": "firing"}]}).encode(), 422, "alerts[0].labels"),
        ("generic", json.dumps({"labels": {"a": "b"}}).encode(), 422, "alerts[0].title"),
        ("pagerduty_", b"{}", 404, "format"),
    ],
)
def test_malformed_bodies_are_kept_and_answered_4xx_naming_the_field(
    intake: Intake, source: str, body: bytes, status: int, field: str
) -> None:
    headers = {}
    if source == "pagerduty_":
        source = "nagios"
    resp = post(intake, source, body, headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field
    if status in (400, 422):
        stored = intake.store.payload(resp.json()["payload_id"])
        assert stored.body == body and stored.state == "rejected" and stored.error


@pytest.mark.parametrize("depth", [40, 30_000])
def test_deeply_nested_json_is_400_and_kept_as_rejected(intake: Intake, depth: int) -> None:
    body = b'{"alerts": ' + b"[" * depth + b"]" * depth + b"}"
    resp = post(intake, "alertmanager", body)
    assert resp.status_code == 400 and "nested deeper" in resp.json()["error"]
    stored = intake.store.payload(resp.json()["payload_id"])
    assert stored.body == body and stored.state == "rejected" and "nested deeper" in (stored.error or "")


def test_sns_posts_that_do_not_verify_are_refused_before_anything_is_stored(intake: Intake) -> None:
    cert = f"{intake.sns_base}/sns/cert.pem"
    before = len(intake.store.payloads())
    tampered = intake.signer.sign(payloads.sns_notification(cert, payloads.cloudwatch_alarm()))
    tampered["Message"] = tampered["Message"].replace("ALARM", "OK")
    unsigned = {**tampered, "Signature": ""}
    untrusted = intake.signer.sign(
        payloads.sns_notification("https://evil.example/cert.pem", payloads.cloudwatch_alarm())
    )
    for body, status in (
        (tampered, 401),
        (unsigned, 401),
        (untrusted, 401),
        (b"x" * 60_000, 400),
        ({"Type": "Notification"}, 422),
    ):
        resp = post(intake, "sns", body)
        assert resp.status_code == status, resp.text
        assert "not stored" in resp.json()["error"] and resp.json()["payload_id"] is None
    assert len(intake.store.payloads()) == before


def test_body_size_limit(intake: Intake) -> None:
    resp = post(intake, "generic", b"{" + b" " * 70000 + b"}")
    assert resp.status_code == 413


def test_sns_subscription_is_confirmed_only_from_a_trusted_endpoint(intake: Intake) -> None:
    cert = f"{intake.sns_base}/sns/cert.pem"
    ok = intake.signer.sign(
        payloads.sns_subscription(cert, f"{intake.sns_base}/sns/?Action=ConfirmSubscription")
    )
    resp = post(intake, "sns", ok, {"Authorization": ""})
    assert resp.status_code == 202 and "subscribed" in resp.json()["note"]
    assert any("ConfirmSubscription" in h for h in intake.sns_hits)
    evil = intake.signer.sign(payloads.sns_subscription(cert, f"{intake.sns_base}/elsewhere/confirm"))
    refused = post(intake, "sns", evil)
    assert refused.status_code == 403 and refused.json()["field"] == "SubscribeURL"
    assert not any("elsewhere" in h for h in intake.sns_hits)


def test_sns_cloudwatch_alarm_verified_and_parsed(intake: Intake) -> None:
    cert = f"{intake.sns_base}/sns/cert.pem"
    for version in ("1", "2"):
        signed = intake.signer.sign(payloads.sns_notification(cert, payloads.cloudwatch_alarm()), version)
        resp = post(intake, "sns", signed)
        assert resp.status_code == 202, resp.text
    incident = resp.json()["results"][0]["incident"]
    first = intake.store.timeline(incident)[0]
    assert first.data["alert"]["labels"]["LoadBalancer"] == "app/api/50dc6c495c0c9188"
    tampered = intake.signer.sign(payloads.sns_notification(cert, payloads.cloudwatch_alarm()))
    tampered["Message"] = tampered["Message"].replace("ALARM", "OK")
    assert post(intake, "sns", tampered).status_code == 401
    untrusted = intake.signer.sign(
        payloads.sns_notification("https://evil.example/cert.pem", payloads.cloudwatch_alarm())
    )
    assert post(intake, "sns", untrusted).json()["field"] == "SigningCertURL"
    insufficient = intake.signer.sign(
        payloads.sns_notification(cert, payloads.cloudwatch_alarm("INSUFFICIENT_DATA"))
    )
    note = post(intake, "sns", insufficient).json()
    assert note["alerts"] == 0 and "INSUFFICIENT_DATA" in note["note"]


def test_openapi_and_healthz(intake: Intake) -> None:
    spec = intake.client.get("/openapi.json").json()
    assert (
        "/alerts/{source}" in spec["paths"]
        and "422" in spec["paths"]["/alerts/{source}"]["post"]["responses"]
    )
    assert intake.client.get("/healthz").json()["status"] == "ok"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
alertish = st.fixed_dictionaries(
    {
        "alerts": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL"]
                ),
                json_values
                | st.sampled_from(["firing", "resolved", "2026-11-27T06:00:00Z", "0001-01-01T00:00:00Z"])
                | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
            ),
            max_size=3,
        )
    },
    optional={
        "version": st.sampled_from(["4", "3", 4]),
        "groupKey": json_values,
        "commonLabels": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | alertish | st.binary(max_size=200))
def test_fuzzed_alertmanager_bodies_never_get_a_5xx(intake: Intake, body: Any) -> None:
    resp = post(intake, "alertmanager", body if isinstance(body, bytes) else json.dumps(body).encode())
    assert resp.status_code < 500, resp.text
    assert resp.status_code in (202, 400, 422), resp.text
    stored = intake.store.payload(resp.json()["payload_id"])
    assert stored.state in ("accepted", "rejected", "ignored")
