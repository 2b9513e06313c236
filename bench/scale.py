"""The distributed shape on this machine: a Prefect server, `warroom deploy` on a work pool (--pool-type
warroom: the warm worker's threads; process: a process per run), one `warroom worker`, one
`warroom receiver`, the ledger shared by them. With --postgres URL (a server's URL, e.g. the one
`bash scripts/pg-cluster.sh DIR PORT` prints) the Prefect server and the ledger each get a fresh database
there, as in the scaling-out set-up; without it the ledger is SQLite and the Prefect server is on what
`warroom up` would give it here (its embedded PostgreSQL where PostgreSQL is installed): the first line says.

(a) a storm: --alerts alerts over --incidents fingerprints (Alertmanager batches of 10); the time from the
    first POST until every incident's first diagnostic has reached the probe (an HTTP server on loopback),
    and where that time went: accepted, launched (ledger), each run's process start to its first task;
    then runs per minute through the one worker, from the first run's start to the last run's end;
(0) one P1 on the quiet server, POST -> its first task: the baseline;
(b) a P1 posted right behind --behind P4 alerts: POST -> the P1's first task against that baseline (it takes
    the urgent lane, a warm worker process of its own), and how the P4s still move.

Run: python bench/scale.py [--postgres URL] [--incidents 100] [--alerts 1000] [--behind 500] [--limit N]
     [--pool-type warroom|process] [--workers N] [--working-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from bench.postgres import asyncpg, fresh_databases  # noqa: E402
from bench.processes import cpu_or_zero, cpu_seconds, pids, tree_cpu_seconds  # noqa: E402
from bench.scale_reads import Probe, at, runs_of, way  # noqa: E402
from bench.sending import alert, batch, wait_http, wait_launching  # noqa: E402
from tests.net import free_port  # noqa: E402
from tests.prefect_db import seed_prefect_home  # noqa: E402

TOKEN = "bench-token"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
POOL = "bench-scale"

RUNBOOK = """\
name: bench-scale
description: a storm target that runs for real on the worker
match: {alertname: BenchScale}
severity:
  - when: "alert.labels.severity == 'critical'"
    level: P1
  - level: P4
params:
  probe: {type: string, from: alert.annotations.probe}
diagnostics:
  - id: health
    use: http.check
    with: {url: "{{ params.probe }}", retries: 0}
"""


def _wait(ok: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    resp = httpx.post(
        f"{url}/alerts/alertmanager", content=batch(alerts), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status_code == 202, resp.text


def storm(
    url: str,
    probe: Probe,
    env: dict[str, str],
    incidents: int,
    total: int,
    ledger: str,
    kind: str,
    roles: dict[str, Callable[[], float]],
    patience: float,
) -> None:
    from warroom.ledger import Store

    alerts = [
        alert("BenchScale", f"storm-{n % incidents:03d}", {"probe": f"{probe.url}/storm-{n % incidents:03d}"})
        for n in range(total)
    ]
    bodies = [alerts[i : i + 10] for i in range(0, total, 10)]
    cpu_before = {role: used() for role, used in roles.items()}
    t0 = time.time()
    with_lock = threading.Lock()

    def sender() -> None:
        while True:
            with with_lock:
                if not bodies:
                    return
                chunk = bodies.pop(0)
            _post(url, chunk)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = time.time() - t0
    wanted = {f"storm-{n:03d}" for n in range(incidents)}
    store = Store(ledger)

    def storm_runs() -> tuple[list[Any], list[dict[str, Any]]]:
        launches = [x for x in store.launches() if x.dedup_key.startswith("bench-scale:storm-")]
        ids = {x.flow_run_id for x in launches}
        return launches, [r for r in runs_of(env) if r["id"] in ids]

    def settled() -> bool:  # every run ended: those without a first diagnostic never will
        _, runs = storm_runs()
        return len(runs) == incidents and all(r["state_type"] in TERMINAL for r in runs)

    deadline = time.monotonic() + patience
    polls = 0
    while not wanted <= set(probe.first) and time.monotonic() < deadline:
        polls += 1
        if polls % 20 == 0 and settled():  # asked of Prefect every 10 s, not to add to its load
            break
        time.sleep(0.5)
    reached = wanted & set(probe.first)
    cpu = {role: used() - cpu_before[role] for role, used in roles.items()}
    if reached != wanted:
        _, runs = storm_runs()
        states = Counter(r["state_type"] for r in runs)
        print(
            f"(a) storm of {total} alerts over {incidents} incidents: only {len(reached)} first diagnostics "
            f"within {time.time() - t0:.0f}s; runs {dict(states)}"
        )
        store.close()
        return
    all_first = max(probe.first[k] for k in wanted) - t0
    launches, _ = storm_runs()
    launched = [e.created_at.timestamp() for e in launches]  # queued
    _wait(
        lambda: sum(r["state_type"] == "COMPLETED" for r in storm_runs()[1]) >= incidents,
        patience,
        "every storm run completed",
    )
    _, runs = storm_runs()
    store.close()
    created = [at(r["created"]) for r in runs]
    started = [at(r["start_time"]) for r in runs]
    ended = [at(r["end_time"]) for r in runs]
    fp_of = {r["id"]: r["parameters"]["dedup_key"].split(":", 1)[1] for r in runs}
    to_first = [probe.first[fp_of[r["id"]]] - at(r["start_time"]) for r in runs]
    print(
        f"(a) storm of {total} alerts over {incidents} incidents: accepted in {accepted:.2f}s; "
        f"every incident's first diagnostic {all_first:.1f}s after the first POST (goal <= 20s)"
    )
    print(
        f"    where the time went: flow runs created by {max(created) - t0:.1f}s (queued in the ledger by "
        f"{max(launched) - t0:.1f}s); runs started by the worker from {min(started) - t0:.1f}s to "
        f"{max(started) - t0:.1f}s; run start -> first task median {statistics.median(to_first):.2f}s, "
        f"max {max(to_first):.2f}s (the longest any started incident waited for its diagnostics)"
    )
    cores = os.cpu_count() or 1
    print(
        f"    CPU seconds used until then ({all_first * cores:.0f} on {cores} cores): "
        + ", ".join(f"{role} {value:.1f}" for role, value in cpu.items())
    )
    span = max(ended) - min(started)
    rate = len(runs) / span * 60
    print(f"    runs per minute through {kind} worker(s): {rate:.1f} ({len(runs)} in {span:.1f}s)")


def quiet_p1(url: str, probe: Probe, env: dict[str, str], ledger: str) -> float:
    """POST -> first task of one P1 on the quiet server: the baseline the P1 behind a storm is held to."""
    p1 = alert("BenchScale", "p1-quiet", {"probe": f"{probe.url}/p1-quiet"}, severity="critical")
    t0 = time.time()
    _post(url, [p1])
    accepted = time.time() - t0
    _wait(lambda: "p1-quiet" in probe.first, 600, "the quiet P1's first diagnostic")
    quiet = probe.first["p1-quiet"] - t0
    print(f"(0) one P1 on the quiet server: POST -> its first task {quiet:.2f}s")
    print(f"    its way: {way('p1-quiet', t0, accepted, probe.first['p1-quiet'], env, ledger)}")
    return quiet


def behind(url: str, probe: Probe, count: int, quiet: float, env: dict[str, str], ledger: str) -> None:
    p4 = [alert("BenchScale", f"p4-{n:03d}", {"probe": f"{probe.url}/p4-{n:03d}"}) for n in range(count)]
    p1 = alert("BenchScale", "p1-000", {"probe": f"{probe.url}/p1-000"}, severity="critical")
    t0 = time.time()
    for i in range(0, count, 50):
        _post(url, p4[i : i + 50])
    t1 = time.time()
    _post(url, [p1])
    accepted = time.time() - t1
    _wait(lambda: "p1-000" in probe.first, 1800, "the P1's first diagnostic")
    p1_first = probe.first["p1-000"] - t1
    its_way = way("p1-000", t1, accepted, probe.first["p1-000"], env, ledger)
    print(f"    the P1's way: {its_way}")
    _wait(lambda: all(f"p4-{n:03d}" in probe.first for n in range(count)), 1800, "the P4s' first diagnostics")
    p4_first = [probe.first[f"p4-{n:03d}"] - t0 for n in range(count)]
    rank = sorted([*p4_first, probe.first["p1-000"] - t0]).index(probe.first["p1-000"] - t0) + 1
    print(
        f"(b) a P1 posted behind {count} P4s: POST -> its first task {p1_first:.2f}s, "
        f"{p1_first - quiet:+.2f}s against the quiet server's {quiet:.2f}s (goal: within +1.50s); it reached "
        f"its first task {rank} of {count + 1}"
    )
    print(
        f"    the P4s still move: POST -> first task median {statistics.median(p4_first):.1f}s, "
        f"p95 {percentile(p4_first, 0.95):.1f}s, last {max(p4_first):.1f}s"
    )


def _warroom(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100)
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--behind", type=int, default=500)
    ap.add_argument("--limit", type=int, default=None, help="the worker's --limit (flow runs at once)")
    ap.add_argument("--pool-type", default="warroom", help="warroom (warm threads) or process (one per run)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    ap.add_argument(
        "--working-runs", type=int, default=None, help="the normal lane's WARROOM_LANE_WORKING_RUNS"
    )
    ap.add_argument("--launch-parallel", type=int, default=4, help="the receiver's WARROOM_LAUNCH_PARALLEL")
    ap.add_argument("--patience", type=float, default=600, help="seconds to wait for the storm's runs")
    ap.add_argument(
        "--postgres", default=None, help="PostgreSQL server URL for Prefect's and the ledger's DBs"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="warroom-scale-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "runbooks").mkdir()
        (tmp / "runbooks" / "bench-scale.yaml").write_text(textwrap.dedent(RUNBOOK))
        databases = fresh_databases(args.postgres, "prefect", "ledger") if args.postgres else []
        ledger = databases[1] if databases else f"sqlite:///{tmp / 'ledger.db'}"
        if databases:  # `prefect server start` below reads it from the environment
            os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = asyncpg(databases[0])
        else:  # the figures are of a running server, not its first start
            seed_prefect_home(tmp / "server-home" / "prefect")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PREFECT_"))}
        base.update(
            WARROOM_INTAKE_TOKENS=json.dumps({"*": TOKEN}),
            WARROOM_PREFECT_PORT=str(free_port()),
            WARROOM_HOME=str(tmp / "server-home"),
            WARROOM_RUNBOOKS_DIR=str(tmp / "runbooks"),
            WARROOM_DATABASE_URL=ledger,
            WARROOM_ONCALL_DIR=str(tmp / "oncall"),
            PREFECT_HOME=str(tmp / "prefect-client"),
        )
        server_db = os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL")
        os.environ.clear()
        os.environ.update(base)
        if server_db:
            os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = server_db
        from cryptography.fernet import Fernet

        from deployments.prefect_database import DATABASE_LABELS, database_kind
        from deployments.serve import local_auth, local_prefect_server
        from warroom.settings import get_settings

        print(
            f"Prefect server on {DATABASE_LABELS[database_kind(get_settings())]}, the ledger on "
            f"{'PostgreSQL' if databases else 'SQLite'}; pool type {args.pool_type}"
        )

        base["WARROOM_APPROVER_KEY"] = Fernet.generate_key().decode()
        procs: list[subprocess.Popen[bytes]] = []
        with local_prefect_server(get_settings()) as api:
            env = {**base, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": local_auth(get_settings())}
            try:
                deployed = subprocess.run(
                    [sys.executable, "-m", "cli", "deploy", "--pool", POOL, "--pool-type", args.pool_type],
                    cwd=REPO,
                    env={**env, "WARROOM_HOME": str(tmp / "cli")},
                    capture_output=True,
                    text=True,
                )
                assert deployed.returncode == 0, deployed.stdout + deployed.stderr
                worker = ["worker", "--pool", POOL] + (["--limit", str(args.limit)] if args.limit else [])
                for n in range(
                    args.workers
                ):  # a second worker on this machine stands in for a second machine
                    home = {**env, "WARROOM_HOME": str(tmp / f"worker-{n}")}
                    if args.working_runs:
                        home["WARROOM_LANE_WORKING_RUNS"] = str(args.working_runs)
                    procs.append(_warroom([*worker, "--name", f"bench-{n}"], home, tmp / f"worker-{n}.log"))
                port = free_port()
                procs.append(
                    _warroom(
                        ["receiver", "--port", str(port)],
                        {
                            **env,
                            "WARROOM_HOME": str(tmp / "receiver"),
                            "WARROOM_LAUNCH_PARALLEL": str(args.launch_parallel),
                        },
                        tmp / "receiver.log",
                    )
                )
                url = f"http://127.0.0.1:{port}"
                wait_http(f"{url}/healthz")
                wait_launching(url)
                time.sleep(5)  # the workers warm up and poll their pool
                probe = Probe()
                quiet = quiet_p1(url, probe, env, ledger)
                # this benchmark's server, by its port: others may run on the machine at the same time
                port_arg = f"--port {base['WARROOM_PREFECT_PORT']}"
                (server,) = pids(f"prefect server start --host 127.0.0.1 {port_arg}")
                roles: dict[str, Callable[[], float]] = {
                    "Prefect server": lambda: tree_cpu_seconds(server),
                    "workers": lambda: sum(tree_cpu_seconds(p.pid) for p in procs[: args.workers]),
                    "receiver": lambda: cpu_seconds(procs[args.workers].pid),
                }
                if databases:  # a backend per connection: all of them, as they are at each moment
                    roles["PostgreSQL"] = lambda: sum(cpu_or_zero(pid) for pid in pids("postgres", name=True))
                storm(
                    url,
                    probe,
                    env,
                    args.incidents,
                    args.alerts,
                    ledger,
                    f"{args.workers} {args.pool_type}",
                    roles,
                    args.patience,
                )
                if args.behind:
                    behind(url, probe, args.behind, quiet, env, ledger)
            finally:
                for proc in procs:
                    os.killpg(proc.pid, signal.SIGINT)
                for proc in procs:
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
