"""Screenshots of a waiting approval gate as an approver sees it in the Prefect UI (headless Chromium).

Starts a throwaway Prefect server on 127.0.0.1, runs the test capacity runbook against a loopback service
until its gate waits, then photographs the paused run's page and the approval form, and rejects the gate.

Run: python scripts/gate_screenshots.py OUT_DIR   (needs Debian's chromium and `pip install playwright`)
"""

from __future__ import annotations

import contextvars
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from uuid import UUID

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.flow_helpers import CAPACITY_RUNBOOK, code, write_runbook  # noqa: E402
from tests.net import free_port  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="warroom-shots-"))
    write_runbook(
        tmp / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "30m").replace(" ESCALATE", "")
    )
    os.environ.update(
        WARROOM_HOME=str(tmp / "home"),
        WARROOM_RUNBOOKS_DIR=str(tmp / "runbooks"),
        WARROOM_STEP_MODULES='["tests.plugin_steps"]',
        WARROOM_APPROVER_GROUPS='{"sre": ["alice"]}',
        WARROOM_PREFECT_PORT=str(free_port()),
        PREFECT_HOME=str(tmp / "prefect-client"),
    )
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.serve import local_prefect_server
    from warroom.settings import get_settings

    with local_prefect_server(get_settings()) as api, temporary_settings(updates={PREFECT_API_URL: api}):
        os.environ["PREFECT_API_URL"] = api  # for the REST client that answers the gate
        _shoot(api, out)
    shutil.rmtree(tmp, ignore_errors=True)


def _shoot(api: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright
    from prefect.input.actions import read_flow_run_input

    from flows.answer import answer_gate
    from flows.respond import respond
    from tests.flow_helpers import wait_for_gate, wait_for_incident
    from tests.service import running_service
    from warroom.ledger import Store

    store = Store.from_settings()
    with running_service() as (url, _state):
        key = f"shots:{uuid.uuid4().hex}"
        alert = {
            "labels": {"alertname": "ServiceUnhealthy", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "checkout /healthz failing for 5 minutes", "service_url": url},
            "startsAt": "2026-11-27T14:32:00Z",
        }
        kwargs = {"runbook": "svc-capacity", "alert": alert, "dedup_key": key, "requested_by": "dave"}
        context = contextvars.copy_context()  # Prefect's settings travel in the context, not the thread
        thread = threading.Thread(target=context.run, args=(respond,), kwargs=kwargs, daemon=True)
        thread.start()
        incident = wait_for_incident(store, key)
        gate = wait_for_gate(incident.id)
        key = f"paused-gate-{gate.gate_id}-{gate.pause}-description"
        page_text = read_flow_run_input(key, flow_run_id=UUID(gate.flow_run_id))
        (out / "approval-page.md").write_text(str(page_text))
        ui = api.removesuffix("/api")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui}/runs/flow-run/{gate.flow_run_id}")
            page.wait_for_timeout(4000)
            page.screenshot(path=str(out / "paused-run.png"), full_page=True)
            page.get_by_role("button", name="Resume").first.click()
            page.wait_for_timeout(3000)
            page.screenshot(path=str(out / "approval-form.png"), full_page=True)
            browser.close()
        answer_gate(
            store,
            incident.id,
            approver="alice",
            code=code("alice"),
            reason="screenshots only",
            decision="reject",
        )
        thread.join(60)
    store.close()
    print(f"wrote {out / 'paused-run.png'} and {out / 'approval-form.png'}")
    time.sleep(0.1)


if __name__ == "__main__":
    main()
