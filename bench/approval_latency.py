"""Approval latency and a whole respond run, against a real Prefect server on 127.0.0.1.

(a) From `warroom approve` returning (and from it starting) to the approved mitigation's first request
    reaching the service: median and p95 over --runs runs.
(b) From an approval given in the incident's room (the modal's signed submission reaching the receiver's
    /slack/actions) to the mitigation's first request reaching the service, against the loopback Slack Web
    API: median and p95 over --runs runs; and the click on Approve -> its modal opened.
(c) One respond run with 5 diagnostics and 1 mitigation, approved at once by a second process: its time,
    phase by phase, read off the incident's timeline.

Run: python bench/approval_latency.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path: keep it off, so no module there shadows a library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from bench.gated import enrolled, run_in_thread  # noqa: E402
from tests.net import free_port  # noqa: E402
from tests.prefect_db import seed_prefect_home  # noqa: E402

RUNBOOK = """\
    name: bench-capacity
    description: bench
    params:
      service_url: {type: string}
    diagnostics:
    DIAGNOSTICS
    mitigations:
      - id: scale_up
        when: "not d1.ok"
        use: svc.scale
        with: {url: "{{ params.service_url }}", replicas: 4}
        approval: {approvers: [{group: sre}], timeout: 5m}
    communicate: {channel: "#bench-{{ incident.number }}"}
    verify:
      - use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        _bench(args.runs)
        return
    holder = tempfile.TemporaryDirectory(prefix="warroom-bench-")
    tmp = Path(holder.name)
    diagnostics = "\n".join(
        f"  - id: d{i}\n    use: http.check\n"
        f'    with: {{url: "{{{{ params.service_url }}}}/healthz", retries: 0}}'
        for i in range(1, 6)
    )
    (tmp / "runbooks").mkdir()
    (tmp / "runbooks" / "bench.yaml").write_text(
        textwrap.dedent(RUNBOOK).replace("DIAGNOSTICS", textwrap.indent(diagnostics, ""))
    )
    os.environ.update(
        WARROOM_HOME=str(tmp / "home"),
        WARROOM_RUNBOOKS_DIR=str(tmp / "runbooks"),
        WARROOM_STEP_MODULES='["tests.plugin_steps"]',
        WARROOM_APPROVER_GROUPS=json.dumps({"sre": [f"approver{i}" for i in range(2 * args.runs + 1)]}),
        WARROOM_DEFAULT_TEAM="bench",
        WARROOM_PREFECT_PORT=str(free_port()),
        PREFECT_HOME=str(tmp / "prefect-client"),
    )
    os.environ.pop("PREFECT_API_URL", None)
    seed_prefect_home(tmp / "home" / "prefect")  # the figures are of a running server, not its first start

    from deployments.serve import local_auth, local_prefect_server
    from warroom.settings import get_settings

    # The measuring process is started afresh with PREFECT_API_URL in its environment, as `warroom`
    # processes are: Prefect reads its settings when it is imported.
    with local_prefect_server(get_settings()) as api:
        subprocess.run(
            [sys.executable, __file__, "--runs", str(args.runs), "--measure"],
            env={**os.environ, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": local_auth(get_settings())},
            check=True,
        )


def _bench(runs: int) -> None:
    import pyotp
    from prefect.flow_runs import resume_flow_run

    from flows.answer import open_gates
    from tests.flow_helpers import fresh_code
    from tests.service import ServiceState, running_service
    from warroom.ledger import Store
    from warroom.settings import get_settings

    store = Store.from_settings()
    settings = get_settings()
    laptops, secrets = enrolled(store, settings, [f"approver{i}" for i in range(2 * runs + 1)])
    after_return: list[float] = []
    after_start: list[float] = []
    env = {**os.environ}

    in_process: list[float] = []

    def one_run(
        approver: str, state: ServiceState, url: str, via_cli: bool = True, signed: bool = False
    ) -> tuple[float, float, float, str]:
        thread, incident = run_in_thread(store, "bench-capacity", url)
        while not open_gates(store, incident.id):
            time.sleep(0.05)
        state.scale_received.clear()
        code = fresh_code(pyotp.TOTP(secrets[approver]))  # the one good longest: a loaded CLI is slow
        started = time.time()
        if via_cli:
            cli = [sys.executable, "-m", "cli", "approve", incident.id, "--as", approver]
            done = subprocess.run(
                [*cli, "--reason", "bench", *([] if signed else ["--code", code])],
                cwd=REPO,
                # the approver's own terminal: their key file (signed), or none (a code)
                env={**env, "WARROOM_KEY_FILE": str(laptops / approver / ("key.pem" if signed else "none"))},
                capture_output=True,
                text=True,
                check=True,
            )
            assert "granted" in done.stdout, done.stdout
        else:
            answer = {"decision": "approve", "approver": approver, "code": code, "reason": "bench"}
            resume_flow_run(UUID(open_gates(store, incident.id)[0].flow_run_id), run_input=answer)
        returned = time.time()
        assert state.scale_received.wait(30)
        arrived = state.scale_arrivals[-1]
        thread.join(60)
        return started, returned, arrived, incident.id

    for i in range(1, runs + 1):
        with running_service(ServiceState()) as (url, state):
            started, returned, arrived, _ = one_run(f"approver{i}", state, url)
        after_return.append(arrived - returned)
        after_start.append(arrived - started)
    signed_after_start: list[float] = []
    for i in range(1, runs + 1):
        with running_service(ServiceState()) as (url, state):
            started, _returned, arrived, _ = one_run(f"approver{i}", state, url, signed=True)
        signed_after_start.append(arrived - started)
    for i in range(1, runs + 1):  # approvers of their own: each code is accepted once
        with running_service(ServiceState()) as (url, state):
            started, _returned, arrived, _ = one_run(f"approver{runs + i}", state, url, via_cli=False)
        in_process.append(arrived - started)

    poll = get_settings().approval_poll_seconds
    print(f"approval -> mitigation start over {runs} runs (gate poll {poll}s):")
    print(
        f"  from `warroom approve` returning: median {statistics.median(after_return):.3f}s "
        f"p95 {percentile(after_return, 0.95):.3f}s max {max(after_return):.3f}s"
    )
    print(
        f"  from `warroom approve` starting:  median {statistics.median(after_start):.3f}s "
        f"p95 {percentile(after_start, 0.95):.3f}s max {max(after_start):.3f}s (includes CLI start-up)"
    )
    print(
        f"  signed (no code), from starting:  median {statistics.median(signed_after_start):.3f}s "
        f"p95 {percentile(signed_after_start, 0.95):.3f}s max {max(signed_after_start):.3f}s"
    )
    print(
        f"  from the resume API call:         median {statistics.median(in_process):.3f}s "
        f"p95 {percentile(in_process, 0.95):.3f}s max {max(in_process):.3f}s (what the gate itself adds)"
    )
    print(
        "  (negative: the change had already started when the command returned: `warroom approve` waits\n"
        "   for the gate's judgement, which is recorded just before the mitigation task is submitted)"
    )

    _chat(runs, store)

    with running_service(ServiceState()) as (url, state):
        t0 = time.time()
        _, _, _, incident = one_run("approver0", state, url)
        total = time.time() - t0
    events = store.timeline(incident)
    store.close()
    print(f"\none respond run, 5 diagnostics + 1 approved mitigation: {total:.2f}s wall")
    marks: list[tuple[str, float]] = []
    wanted = {
        "incident.opened": "open",
        "status.changed": None,
        "mitigation.proposed": "propose",
        "approval.requested": "gate open",
        "approval.granted": "approved",
        "mitigation.started": "mitigate",
        "mitigation.applied": "applied",
    }
    for e in events:
        if e.kind in wanted:
            label = wanted[e.kind] or f"-> {e.data.get('to')}"
            marks.append((label, e.at.timestamp()))
    base = marks[0][1]
    previous = base
    for label, at in marks:
        print(f"  {label:<20} +{at - base:6.3f}s  (step {at - previous:6.3f}s)")
        previous = at


SCHEDULE = """\
team: bench
timezone: UTC
rotation: {length: 1w, start: 2026-11-02}
layers:
  - {name: primary, members: [approver0]}
people:
PEOPLE
"""


def _chat(runs: int, store: Any) -> None:
    """(b): approvals given in the room, as `warroom up`'s receiver takes them."""
    from functools import partial

    from fastapi.testclient import TestClient

    from flows.chat_approval import answering
    from flows.chat_commands import handle
    from flows.communicate import keep_rooms
    from tests.peers.slack import SIGNING_SECRET, TOKEN, running_slack
    from tests.service import ServiceState, running_service
    from warroom.incident import Severity
    from warroom.intake.receiver import create_app
    from warroom.intake.router import Router
    from warroom.intake.slack_actions import SlackHandlers
    from warroom.settings import get_settings

    approvers = [f"approver{2 * runs - i}" for i in range(runs)]  # not the ones (a) used: fresh answers
    oncall = Path(os.environ["WARROOM_HOME"]).parent / "oncall"
    oncall.mkdir(exist_ok=True)
    people = "\n".join(f"  {a}: {{slack: U0{a.upper()}}}" for a in approvers)
    (oncall / "bench.yaml").write_text(SCHEDULE.replace("PEOPLE", people))
    clicks: list[float] = []
    submits: list[float] = []
    with running_slack() as slack:
        os.environ.update(
            WARROOM_ONCALL_DIR=str(oncall),
            WARROOM_CHAT_PROVIDER="slack",
            WARROOM_SLACK_URL=slack.url,
            WARROOM_SLACK_TOKEN=TOKEN,
            WARROOM_SLACK_SIGNING_SECRET=SIGNING_SECRET,
        )
        get_settings.cache_clear()
        settings = get_settings()
        handlers = SlackHandlers(answering(settings, store), partial(handle, settings=settings, store=store))
        app = create_app(settings, store, Router(store, lambda: None, Severity.P3), handlers)  # type: ignore[arg-type]
        with TestClient(app) as client:
            for approver in approvers:
                with running_service(ServiceState()) as (url, state):
                    thread, incident = run_in_thread(store, "bench-capacity", url)
                    while not any(
                        m["blocks"]
                        for c in slack.channels.values()
                        for m in c.messages.values()
                        if f"{incident.id} " in json.dumps(m["blocks"])
                    ):
                        keep_rooms(settings, store)
                        time.sleep(0.1)
                    room = store.room(incident.number)
                    state.scale_received.clear()
                    before = set(slack.views)
                    body, headers = slack.press(
                        f"U0{approver.upper()}", room.channel, incident.id + " ", "warroom_approve"
                    )
                    t0 = time.time()
                    assert client.post("/slack/actions", content=body, headers=headers).status_code == 200
                    clicks.append(time.time() - t0)
                    [view] = set(slack.views) - before
                    body, headers = slack.submit(view, {"reason": "bench"})
                    started = time.time()
                    said = client.post("/slack/actions", content=body, headers=headers).json()
                    assert said == {"response_action": "clear"}, said
                    assert state.scale_received.wait(30)
                    submits.append(state.scale_arrivals[-1] - started)
                    thread.join(60)
    print(f"approval given in the room -> mitigation start over {runs} runs:")
    print(
        f"  from the modal's submission:      median {statistics.median(submits):.3f}s "
        f"p95 {percentile(submits, 0.95):.3f}s max {max(submits):.3f}s"
    )
    print(
        f"  Approve clicked -> modal opened:  median {statistics.median(clicks):.3f}s "
        f"p95 {percentile(clicks, 0.95):.3f}s max {max(clicks):.3f}s"
    )


if __name__ == "__main__":
    main()
