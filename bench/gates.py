"""Many approvals at once, against a real Prefect server on 127.0.0.1: --gates runs wait at their gates in
one process (as a warm lane holds them: one thread each, each gate polling Prefect's input store), then
each is answered through Prefect's resume call with run input, as the UI's form sends it, from a process
of its own (as a browser is), the answers spread evenly over --window seconds. Figure: from an answer
stored to its change's first request reaching the service, p50 / p95 / max, beside one gate answered
alone on the same server (the quiet baseline).
Goal: p95 <= 1.5 s for 50 gates answered within 10 s.

Run: python bench/gates.py [--gates 50] [--window 10]
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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path: keep it off, so no module there shadows a library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from bench.gated import enrolled, run_in_thread  # noqa: E402
from tests.net import free_port  # noqa: E402
from tests.prefect_db import seed_prefect_home  # noqa: E402

GOAL_P95 = 1.5

RUNBOOK = """\
    name: bench-gates
    description: many gates at once
    params:
      service_url: {type: string}
    diagnostics:
      - id: d1
        use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
    mitigations:
      - id: scale_up
        when: "not d1.ok"
        use: svc.scale
        with: {url: "{{ params.service_url }}", replicas: 4}
        approval: {approvers: [{group: sre}], timeout: 30m}
    verify:
      - use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gates", type=int, default=50)
    ap.add_argument("--window", type=float, default=10.0, help="seconds over which the answers are spread")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--answer", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.answer:
        _answer_as_the_ui()
        return
    if args.measure:
        _bench(args.gates, args.window)
        return
    holder = tempfile.TemporaryDirectory(prefix="warroom-bench-")
    tmp = Path(holder.name)
    (tmp / "runbooks").mkdir()
    (tmp / "runbooks" / "bench.yaml").write_text(textwrap.dedent(RUNBOOK))
    os.environ.update(
        WARROOM_HOME=str(tmp / "home"),
        WARROOM_RUNBOOKS_DIR=str(tmp / "runbooks"),
        WARROOM_STEP_MODULES='["tests.plugin_steps"]',
        WARROOM_APPROVER_GROUPS=json.dumps({"sre": [f"approver{i}" for i in range(args.gates + 1)]}),
        WARROOM_DEFAULT_TEAM="bench",
        WARROOM_PREFECT_PORT=str(free_port()),
        PREFECT_HOME=str(tmp / "prefect-client"),
    )
    os.environ.pop("PREFECT_API_URL", None)
    seed_prefect_home(tmp / "home" / "prefect")

    from deployments.serve import local_auth, local_prefect_server
    from warroom.settings import get_settings

    # The measuring process starts afresh with PREFECT_API_URL set, as `warroom` processes do.
    with local_prefect_server(get_settings()) as api:
        subprocess.run(
            [sys.executable, __file__, "--gates", str(args.gates), "--window", str(args.window), "--measure"],
            env={
                **os.environ,
                "PREFECT_API_URL": api,
                "PREFECT_API_AUTH_STRING": local_auth(get_settings()),
                "PREFECT_LOGGING_LEVEL": "WARNING",  # a hundred runs' task logs would bury the figures
            },
            check=True,
        )


def _bench(gates: int, window: float) -> None:
    from tests.service import ServiceState, running_service
    from warroom.ledger import Store
    from warroom.settings import get_settings

    store = Store.from_settings()
    settings = get_settings()
    # an approver per gate: a code is accepted once
    _, secrets = enrolled(store, settings, [f"approver{i}" for i in range(gates + 1)])

    with ExitStack() as stack:
        alone_url, alone_state = stack.enter_context(running_service(ServiceState()))
        [quiet] = _answered(store, [(alone_url, alone_state)], ["approver0"], secrets, 0.0)
        services = [stack.enter_context(running_service(ServiceState())) for _ in range(gates)]
        names = [f"approver{i}" for i in range(1, gates + 1)]
        held = time.monotonic()
        stages: dict[str, list[float]] = {}
        delays = _answered(store, services, names, secrets, window, held, stages)

    poll = settings.approval_poll_seconds
    p95 = percentile(delays, 0.95)
    print(f"answer stored -> its change's first request (gate poll {poll} s, one process holding the gates):")
    print(f"  one gate alone (quiet baseline): {quiet:.3f} s")
    print(
        f"  {gates} gates answered within {window:.0f} s: p50 {statistics.median(delays):.3f} s "
        f"p95 {p95:.3f} s max {max(delays):.3f} s ({p95 / max(quiet, 1e-3):.1f}x the quiet gate)"
    )
    print(f"  goal: p95 <= {GOAL_P95} s for 50 gates within 10 s: {'met' if p95 <= GOAL_P95 else 'missed'}")
    print("  where it goes (p50 / p95), off each incident's timeline:")
    for stage, values in stages.items():
        print(f"    {stage:<40} {statistics.median(values):6.3f} s {percentile(values, 0.95):6.3f} s")


def _answered(
    store: Any,
    services: list[tuple[str, Any]],
    approvers: list[str],
    secrets: dict[str, str],
    window: float,
    held: float | None = None,
    stages: dict[str, list[float]] | None = None,
) -> list[float]:
    """Start a run per service, wait until every one waits at its gate, answer them ``window`` seconds
    apart in all, and return each answer's delay to its change's first request, in seconds."""
    from flows.answer import open_gates

    threads, incidents = zip(*(run_in_thread(store, "bench-gates", url) for url, _ in services), strict=True)
    deadline = time.monotonic() + 300
    gates: list[Any] = []
    for incident in incidents:
        while not (found := open_gates(store, incident.id)):
            if time.monotonic() > deadline:
                raise SystemExit(f"{incident.id}: its gate did not open within 300 s")
            time.sleep(0.1)
        gates.append(found[0])
    if held is not None:
        print(f"{len(gates)} gates open after {time.monotonic() - held:.1f} s; answering them now")
    plan = [
        {
            "flow_run_id": gate.flow_run_id,
            "approver": name,
            "secret": secrets[name],
            "at": i * window / len(gates),
        }
        for i, (gate, name) in enumerate(zip(gates, approvers, strict=True))
    ]
    answering = subprocess.run(
        [sys.executable, __file__, "--answer"], input=json.dumps(plan), capture_output=True, text=True
    )
    if answering.returncode != 0:  # an answer Prefect refused ends the bench, saying why
        raise SystemExit(f"answering failed: {answering.stdout}{answering.stderr}")
    answered: list[float] = json.loads(answering.stdout)
    for _, state in services:
        if not state.scale_received.wait(120):
            raise SystemExit("a change did not reach its service within 120 s of its answer")
    for thread in threads:
        thread.join(120)
    if stages is not None:
        for i, incident in enumerate(incidents):
            at = {e.kind.value: e.at.timestamp() for e in store.timeline(incident.id)}
            granted, started = at["approval.granted"], at["mitigation.started"]
            arrived = services[i][1].scale_arrivals[0]
            stages.setdefault("answer stored -> judged (approval.granted)", []).append(granted - answered[i])
            stages.setdefault("judged -> mitigation.started", []).append(started - granted)
            stages.setdefault("mitigation.started -> first request", []).append(arrived - started)
    return [state.scale_arrivals[0] - answered[i] for i, (_, state) in enumerate(services)]


def _answer_as_the_ui() -> None:
    """The answerers' process: each planned answer at its time (seconds after this process is ready), as the
    UI's Submit sends it (`POST /api/flow_runs/ID/resume` with the run input); prints when each was stored."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import pyotp

    plan = json.loads(sys.stdin.read())
    user, _, password = os.environ["PREFECT_API_AUTH_STRING"].partition(":")
    answered = [0.0] * len(plan)
    with httpx.Client(base_url=os.environ["PREFECT_API_URL"], auth=(user, password), timeout=60) as http:

        def answer(i: int) -> None:
            planned = plan[i]
            run_input = {
                "decision": "approve",
                "approver": planned["approver"],
                "code": pyotp.TOTP(planned["secret"]).now(),  # one answer per approver: a code counts once
                "reason": "bench",
            }
            resp = http.post(f"/flow_runs/{planned['flow_run_id']}/resume", json={"run_input": run_input})
            if resp.status_code not in (200, 201) or resp.json().get("status") != "ACCEPT":
                raise SystemExit(f"Prefect refused an answer: {resp.status_code} {resp.text[:300]}")
            answered[i] = time.time()

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(len(plan), 1)) as pool:
            sent = []
            for i, planned in enumerate(plan):
                time.sleep(max(0.0, start + planned["at"] - time.monotonic()))
                sent.append(pool.submit(answer, i))
            for future in sent:
                future.result()
    print(json.dumps(answered))


if __name__ == "__main__":
    main()
