"""Alert intake against the receiver on 127.0.0.1 (uvicorn, one worker, SQLite ledger, a real Prefect server).

(a) acceptance latency p50/p99 at a steady --rate alerts/s for --seconds s (fingerprints cycle over 500,
    so the first 500 open incidents and queue their launches); it starts once the receiver's launch
    loop holds its lease (warm); each of the 64 senders opens its connection before the clock starts, as
    Alertmanager keeps its own; the worst second is printed too;
(b) a storm of 10,000 alerts over 100 fingerprints in Alertmanager batches of 100: alerts/s accepted,
    incidents created (must be 100), flow runs launched (must be 100);
(c) from POST to the runbook flow's first task starting (served by `warroom up`, runner poll 1 s):
    median and p95 over 20 alerts.

Run: python bench/intake.py [--rate 200] [--seconds 30] [--storm 10000] [--first-task 20] [--postgres URL]
(--postgres: the Prefect server and the storm receiver's ledger each on a fresh database there)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from bench.postgres import asyncpg, fresh_databases  # noqa: E402
from bench.sending import alert, batch, wait_http, wait_launching  # noqa: E402
from tests.net import free_port  # noqa: E402
from tests.prefect_db import seed_prefect_home  # noqa: E402

TOKEN = "bench-token"

STORM_RUNBOOK = """\
name: bench-storm
description: storm target (its deployment is registered, not served)
match: {alertname: BenchStorm}
diagnostics:
  - id: health
    use: http.check
    with: {url: "http://127.0.0.1:9/healthz", retries: 0}
"""

STEADY_RUNBOOK = """\
name: bench-steady
description: steady-traffic target (registered, not served)
match: {alertname: BenchSteady}
diagnostics:
  - id: health
    use: http.check
    with: {url: "http://127.0.0.1:9/healthz", retries: 0}
"""

FIRST_TASK_RUNBOOK = """\
name: bench-first-task
description: first-task latency
match: {alertname: BenchFirstTask}
params:
  service_url: {type: string, from: alert.annotations.service_url}
diagnostics:
  - id: health
    use: http.check
    with: {url: "{{ params.service_url }}/healthz", retries: 0}
"""


def steady(url: str, rate: int, seconds: int) -> None:
    total = rate * seconds
    latencies: list[float] = []
    errors = 0
    sent_at: list[float] = []
    lock = threading.Lock()
    workers = 64
    # Senders keep their connections, as Alertmanager does: each opens its own before the clock starts.
    ready = threading.Barrier(workers + 1)
    go = threading.Event()
    start = 0.0

    def worker(offset: int) -> None:
        nonlocal errors
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            client.get(f"{url}/healthz")
            ready.wait()
            go.wait()
            for i in range(offset, total, workers):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = batch([alert("BenchSteady", f"steady-{i % 500:04d}")])
                t0 = time.perf_counter()
                resp = client.post(f"{url}/alerts/alertmanager", content=body)
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                    sent_at.append(t0 - start)
                    errors += resp.status_code != 202

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    # The clock starts once every sender is connected: 64 clients made at once load the cores for a
    # second, and a clock started before them would count that second's backlog as the receiver's.
    ready.wait()
    # The senders' own collector paused all 64 of them for up to 320 ms mid-run (a full pass over this
    # process's objects), and the pause was counted as the receiver's latency: none while the clock runs.
    gc.collect()
    gc.disable()
    start = time.perf_counter() + 0.2
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    gc.enable()
    by_second: dict[int, list[float]] = {}
    for at, took in zip(sent_at, latencies, strict=True):
        by_second.setdefault(int(at), []).append(took)
    worst = max(by_second, key=lambda sec: percentile(by_second[sec], 0.99))
    print(
        f"(a) steady {rate} alerts/s for {seconds}s: {len(latencies)} sent in {wall:.1f}s, {errors} not 202; "
        f"acceptance latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    after = [took for at, took in zip(sent_at, latencies, strict=True) if at >= 3]
    print(
        f"    worst second: {worst}s in, p99 {percentile(by_second[worst], 0.99) * 1000:.1f} ms; "
        f"from 3s on (the first 3s open {min(3 * rate, 500)} incidents): p99 "
        f"{percentile(after, 0.99) * 1000 if after else float('nan'):.1f} ms"
    )


def storm(url: str, total: int, fingerprints: int, per_batch: int, ledger: str) -> None:
    from warroom.ledger import Store

    alerts = [alert("BenchStorm", f"storm-{n % fingerprints:03d}") for n in range(total)]
    bodies = [batch(alerts[i : i + per_batch]) for i in range(0, total, per_batch)]
    before = _flow_runs("bench-storm")
    t0 = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
        lock = threading.Lock()
        pending = list(bodies)

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                assert client.post(f"{url}/alerts/alertmanager", content=body).status_code == 202

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    accepted = time.perf_counter() - t0
    store = Store(ledger)
    incidents = {
        i.number for i in store.list_incidents() if (i.dedup_key or "").startswith("bench-storm:storm-")
    }
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        launches = [x for x in store.launches() if x.incident_number in incidents]
        if launches and all(x.state == "launched" for x in launches):
            break
        time.sleep(0.5)
    launched_at = time.perf_counter() - t0
    runs = _flow_runs("bench-storm") - before
    store.close()
    print(
        f"(b) storm of {total} alerts over {fingerprints} fingerprints in batches of {per_batch}: "
        f"accepted in {accepted:.2f}s = {total / accepted:,.0f} alerts/s; "
        f"incidents created {len(incidents)}; flow runs launched {runs} "
        f"(all launched {launched_at:.1f}s after the first POST)"
    )


def _flow_runs(deployment: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return len(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])), limit=200
            )
        )


def first_task(env: dict[str, str], count: int) -> None:
    if count <= 0:
        return
    from tests.service import running_service
    from tests.up_process import stop_up
    from warroom.ledger import Store

    port = int(env["WARROOM_RECEIVER_PORT"])
    up = subprocess.Popen(
        [sys.executable, "-m", "cli", "up"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        time.sleep(3)  # the runner registers its deployments and starts polling
        store = Store(f"sqlite:///{Path(env['WARROOM_HOME']) / 'warroom.db'}")
        latencies = []
        with running_service() as (url, state):
            for n in range(count):
                seen = len(state.health_arrivals)
                body = batch([alert("BenchFirstTask", f"first-{n:03d}", {"service_url": url})])
                t0 = time.time()
                resp = httpx.post(
                    f"http://127.0.0.1:{port}/alerts/alertmanager",
                    content=body,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=30,
                )
                assert resp.status_code == 202, resp.text
                deadline = time.monotonic() + 120
                while len(state.health_arrivals) == seen:
                    assert time.monotonic() < deadline, "the flow's first task never started"
                    time.sleep(0.01)
                latencies.append(state.health_arrivals[seen] - t0)
                incident = resp.json()["results"][0]["incident"]
                while time.monotonic() < deadline and not any(
                    e.kind == "run.handed_back" for e in store.timeline(incident)
                ):
                    time.sleep(0.2)
        store.close()
    finally:
        stop_up(up, grace=60)  # killed past that: a `warroom up` left behind skews what runs next
    print(
        f"(c) POST -> first task of the runbook flow, over {count} alerts (runner poll 1s, launch loop woken "
        f"once): median {statistics.median(latencies):.2f}s, p95 {percentile(latencies, 0.95):.2f}s, "
        f"max {max(latencies):.2f}s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--storm", type=int, default=10_000)
    ap.add_argument("--first-task", type=int, default=20)
    ap.add_argument("--processes", type=int, default=1, help="receiver processes (uvicorn workers)")
    ap.add_argument(
        "--launch-parallel", type=int, default=None, help="the receiver's WARROOM_LAUNCH_PARALLEL"
    )
    ap.add_argument("--postgres", default=None, help="PostgreSQL server URL: Prefect's and the ledger's DBs")
    args = ap.parse_args()
    databases = fresh_databases(args.postgres, "prefect", "ledger") if args.postgres else []
    with tempfile.TemporaryDirectory(prefix="warroom-intake-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for name, text in (
            ("storm", STORM_RUNBOOK),
            ("steady", STEADY_RUNBOOK),
            ("first", FIRST_TASK_RUNBOOK),
        ):
            (tmp / name).mkdir(exist_ok=True)
            (tmp / name / f"{name}.yaml").write_text(textwrap.dedent(text))
        (tmp / "storm" / "steady.yaml").write_text(textwrap.dedent(STEADY_RUNBOOK))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PREFECT_"))}
        base_env.update(
            WARROOM_INTAKE_TOKENS=json.dumps({"*": TOKEN}),
            WARROOM_PREFECT_PORT=str(free_port()),
            PREFECT_HOME=str(tmp / "prefect-client"),
            WARROOM_HOME=str(tmp / "server-home"),
        )
        os.environ.clear()
        os.environ.update(base_env)
        if databases:  # read by `prefect server start` below; the storm's receiver gets the ledger
            os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = asyncpg(databases[0])
        else:  # the figures are of a running server, not its first start
            seed_prefect_home(tmp / "server-home" / "prefect")
        from deployments.prefect_database import DATABASE_LABELS, database_kind
        from deployments.serve import build_deployments, local_auth, local_prefect_server
        from warroom.runbook import load_catalogue
        from warroom.settings import get_settings

        print(
            f"Prefect server on {DATABASE_LABELS[database_kind(get_settings())]}, the receiver's ledger on "
            f"{'PostgreSQL' if databases else 'SQLite'}"
        )

        with local_prefect_server(get_settings()) as api:
            from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

            # The server Warroom starts is guarded; every process the benchmark starts gets its login.
            base_env["PREFECT_API_AUTH_STRING"] = local_auth(get_settings())
            os.environ["PREFECT_API_AUTH_STRING"] = base_env["PREFECT_API_AUTH_STRING"]
            login = {PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: base_env["PREFECT_API_AUTH_STRING"]}
            with temporary_settings(updates=login):
                # (c) first, on a quiet server: (a) and (b) leave hundreds of scheduled runs behind.
                first_env = {
                    **base_env,
                    "PREFECT_API_URL": api,
                    "WARROOM_HOME": str(tmp / "first-home"),
                    "WARROOM_RUNBOOKS_DIR": str(tmp / "first"),
                    "WARROOM_RECEIVER_PORT": str(free_port()),
                    "WARROOM_INTAKE_LAUNCH_POLL_SECONDS": "0.5",
                }
                first_task(first_env, args.first_task)
                for deployment in build_deployments(load_catalogue([tmp / "storm"])):
                    deployment.apply()
                home = tmp / "storm-home"
                ledger = databases[1] if databases else f"sqlite:///{home / 'warroom.db'}"
                port = free_port()
                env = {
                    **base_env,
                    "PREFECT_API_URL": api,
                    "WARROOM_HOME": str(home),
                    "WARROOM_DATABASE_URL": ledger,
                    "WARROOM_RUNBOOKS_DIR": str(tmp / "storm"),
                    "WARROOM_INTAKE_LAUNCH_POLL_SECONDS": "0.5",
                }
                if args.launch_parallel is not None:
                    env["WARROOM_LAUNCH_PARALLEL"] = str(args.launch_parallel)
                receiver = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "--factory",
                        "deployments.serve:receiver_app",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--workers",
                        str(args.processes),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                    ],
                    cwd=REPO,
                    env=env,
                )
                try:
                    url = f"http://127.0.0.1:{port}"
                    wait_http(f"{url}/healthz")
                    wait_launching(url)
                    steady(url, args.rate, args.seconds)
                    if args.storm > 0:  # --storm 0: (a) alone
                        storm(url, args.storm, 100, 100, ledger)
                finally:
                    receiver.terminate()
                    receiver.wait(30)


if __name__ == "__main__":
    main()
