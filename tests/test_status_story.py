"""The bad-deploy story at P1, told to customers and leadership: the comms lead's words on the public page
(served by `warroom status serve`, read in Debian's Chromium with JavaScript off) say "investigating" then
"resolved", the leadership summary lands in a real SMTP server's inbox for the P1 audience, and the
component's uptime bar shows the outage's minutes. Screenshots are kept under test-output/status/."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.answer import answer_gate
from flows.stakeholders import announce_resolutions
from sandbox.kube import RunningCluster, rollout_scene
from tests.conftest import REPO
from tests.flow_helpers import FlowThread, code, wait_for_gate, wait_for_incident
from tests.net import free_port, stop
from tests.smtp_server import Inbox, running_smtp
from tests.test_cli import warroom
from warroom.identity import Purpose
from warroom.ledger import Store
from warroom.settings import get_settings

pytestmark = pytest.mark.long(60)

SHOTS = Path(os.environ.get("WARROOM_TEST_OUTPUT") or REPO / "test-output") / "status"
AUDIENCES = {"all-hands": ["everyone@example.com"], "c-level": ["ceo@example.com", "cto@example.com"]}


@pytest.fixture
def story(
    kube: RunningCluster, prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, Inbox, str]]:
    with running_smtp() as smtp:
        env = {
            "WARROOM_RUNBOOKS_DIR": str(REPO / "runbooks"),
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'story.db'}",
            "WARROOM_APPROVER_GROUPS": json.dumps({"sre": ["alice", "bob"], "comms": ["carol"]}),
            "WARROOM_STATUS_COMPONENTS": json.dumps({"checkout": ["Checkout"]}),
            "WARROOM_STATUS_TITLE": "Shop status",
            "WARROOM_STATUS_CACHE_SECONDS": "0",
            "WARROOM_SMTP_HOST": "127.0.0.1",
            "WARROOM_SMTP_PORT": str(smtp.port),
            "WARROOM_SMTP_SECURITY": "insecure",
            "WARROOM_STAKEHOLDERS_AUDIENCES": json.dumps(AUDIENCES),
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        store = Store.from_settings()
        port = free_port()
        page = subprocess.Popen(
            [sys.executable, "-m", "cli", "status", "serve", "--port", str(port)],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and page.poll() is None, "warroom status serve did not start"
            time.sleep(0.2)
        try:
            yield store, smtp, url
        finally:
            stop(page)
            store.close()


def test_the_bad_deploy_at_p1_is_told_on_the_public_page_and_to_leadership(
    story: tuple[Store, Inbox, str], kube: RunningCluster
) -> None:
    from playwright.sync_api import sync_playwright

    store, smtp, url = story
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the status page is read in Debian's chromium (scripts/install.sh --dev installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    rollout_scene(kube.cluster, state="crashloop", minutes_ago=7, revisions=3)
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "namespace": "prod",
            "deployment": "web",
            "service": "checkout",
            "severity": "critical",
        },
        "annotations": {"summary": "5xx on checkout"},
        "fingerprint": uuid.uuid4().hex[:16],
    }

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        reader = browser.new_context(
            java_script_enabled=False, viewport={"width": 1100, "height": 1400}
        ).new_page()

        def look(name: str) -> str:
            reader.goto(url)
            reader.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            return reader.inner_text("body")

        try:
            before = look("1-before")
            assert "All systems operational" in before and "Checkout" in before
            assert reader.locator("ol.bars li").count() == 90

            thread = FlowThread(runbook="k8s-bad-deploy", alert=alert)
            thread.start()
            incident = wait_for_incident(store, f"k8s-bad-deploy:{alert['fingerprint']}")
            wait_for_gate(incident.id)
            incident = store.get(incident.id)  # triaged by now
            assert incident.severity.value == "P1" and incident.service == "checkout"
            # alice takes it and names carol comms lead, each proven by a code of her own
            acked = warroom("ack", incident.id, "--as", "alice", "--code", code("alice", Purpose.ACKNOWLEDGE))
            assert acked.returncode == 0, acked.stderr
            named = warroom(
                "incidents",
                "assign",
                incident.id,
                "--comms",
                "carol",
                "--as",
                "alice",
                "--code",
                code("alice", Purpose.ACKNOWLEDGE),
            )
            assert named.returncode == 0, named.stderr
            words = "Some customers cannot check out. We are investigating and will update within 15 minutes."
            posted = warroom(
                "status",
                "post",
                incident.id,
                words,
                "--state",
                "investigating",
                "--as",
                "carol",
                "--code",
                code("carol", Purpose.ACKNOWLEDGE),
            )
            assert posted.returncode == 0, posted.stderr

            during = look("2-during")
            assert "A major outage is under way" in during
            assert "investigating" in during.lower() and words in during
            assert "Major outage" in during and "Next update in 15 minutes" in during

            sent = warroom(
                "status", "send", incident.id, "--as", "carol", "--code", code("carol", Purpose.ACKNOWLEDGE)
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr
            to = sorted(r for m in smtp.mails for r in m.recipients)
            assert to == ["ceo@example.com", "cto@example.com", "everyone@example.com"]
            summary = smtp.to("ceo@example.com")[0]
            assert summary.subject.startswith(f"[P1] {incident.id} ")
            assert words in summary.text and "Commander: alice; comms: carol" in summary.text
            assert "waiting for an engineer's approval" in summary.text

            granted = answer_gate(
                store, incident.id, approver="bob", code=code("bob"), reason="v3 crash-loops"
            )
            assert granted.verdict == "granted", granted
            outcome = thread.finish()
            assert thread.error is None and outcome.outcome == "resolved", (thread.error, outcome)

            fixed = "Checkout is working normally again after we rolled back a faulty release."
            resolved = warroom(
                "status",
                "post",
                incident.id,
                fixed,
                "--state",
                "resolved",
                "--as",
                "carol",
                "--code",
                code("carol", Purpose.ACKNOWLEDGE),
            )
            assert resolved.returncode == 0, resolved.stderr
            announced = announce_resolutions(get_settings(), store)
            assert announced == [f"{incident.id}: resolution announced to all-hands, c-level"]

            after = look("3-after")
            assert "All systems operational" in after
            assert fixed in after and words in after and "Past incidents" in after
            assert "99.99% uptime over the last 90 days" in after
            bars = reader.locator("ol.bars li")
            today = bars.nth(89).get_attribute("title") or ""
        finally:
            browser.close()

    posts = store.status_posts(incident.number)
    outage = (posts[-1].posted_at - posts[0].started_at).total_seconds()
    minutes = math.ceil(outage / 60)
    assert today.endswith(f"{minutes} min down (major outage); {incident.id}"), today
    assert f"{minutes} min down on" in after
    checkout = httpx.get(f"{url}index.json").json()["components"][0]
    assert checkout["days"][-1]["down_seconds"] == pytest.approx(outage, abs=1)
    assert [m.subject for m in smtp.to("cto@example.com")][-1].endswith(": resolved")
