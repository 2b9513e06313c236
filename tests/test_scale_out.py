"""The distributed shape, as a team runs it: a Prefect server on PostgreSQL, the runbooks registered on a
process work pool (`warroom deploy`), a worker (`warroom worker`), and two receivers (`warroom receiver`) on
one PostgreSQL ledger; an alert runs end to end with an approval, and a storm survives `kill -9` of the
receiver that was launching."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from deployments.warm_worker import pid_of
from tests.conftest import PG_URL, REPO, _drop_pg_database, _fresh_pg_database
from tests.flow_helpers import CAPACITY_RUNBOOK, fresh_code, uris_of, write_runbook
from tests.net import free_port
from tests.patience import HANG
from tests.served import SHORT, wait_for
from tests.service import running_service
from tests.up_process import stop_up, warroom, warroom_done
from warroom.intake.launcher import LEASE
from warroom.ledger import Store

pytestmark = [
    pytest.mark.long(310),
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="needs WARROOM_TEST_DATABASE_URL (PostgreSQL)"),
]

TOKEN = "scale-out-token"
POOL = "scale-out"


@dataclass
class Cluster:
    api: str
    ledger_url: str
    env: dict[str, str]
    receivers: dict[str, subprocess.Popen[str]]  # url -> process
    worker: subprocess.Popen[str]
    base: Path
    stopped: list[subprocess.Popen[str]] = field(default_factory=list)


def _wait(
    what: str,
    ok: Any,
    timeout: float = HANG,
    proc: subprocess.Popen[str] | None = None,
    log: Path | list[Path] | None = None,
) -> None:
    """Every long-running process here writes to a log file, never to a pipe: nobody drains a pipe, and a
    full one stalls the process at its next line (a worker re-entering six gates writes more than 64 KiB)."""
    wait_for(what, ok, timeout=timeout, log=log, proc=proc)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert PG_URL
    base = tmp_path_factory.mktemp("cluster")
    prefect_db, prefect_name = _fresh_pg_database(PG_URL)
    ledger_url, ledger_name = _fresh_pg_database(PG_URL)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
    server_env = {
        **clean,
        "PREFECT_HOME": str(base / "prefect-server"),
        "PREFECT_API_DATABASE_CONNECTION_URL": make_url(prefect_db)
        .set(drivername="postgresql+asyncpg")
        .render_as_string(hide_password=False),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        **SHORT,  # Prefect's leases and service loops short: a gate is held past all of them
    }
    server_log = open(base / "prefect-server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    write_runbook(
        base / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "10m").replace(" ESCALATE", "")
    )
    (base / "oncall").mkdir()
    env = {
        **clean,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(base / "prefect-client"),
        "WARROOM_HOME": str(base / "cli-home"),
        "WARROOM_DATABASE_URL": ledger_url,
        "WARROOM_APPROVER_KEY": Fernet.generate_key().decode(),  # one key for every machine of the cluster
        "WARROOM_RUNBOOKS_DIR": str(base / "runbooks"),
        "WARROOM_ONCALL_DIR": str(base / "oncall"),
        "WARROOM_STEP_MODULES": '["tests.plugin_steps"]',
        "WARROOM_APPROVER_GROUPS": '{"sre": ["alice", "dave"]}',
        "WARROOM_INTAKE_TOKENS": json.dumps({"*": TOKEN}),
        "WARROOM_LEASE_SECONDS": "3",
        "WARROOM_KEEPER_POLL_SECONDS": "1",
        "WARROOM_RUN_HEARTBEAT_SECONDS": "0.5",
        "WARROOM_RUN_STALE_SECONDS": "4",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": SHORT["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"],
        "WARROOM_INTAKE_LAUNCH_POLL_SECONDS": "0.3",
        "PYTHONPATH": str(REPO),  # the worker's flow runs import the test's own steps (tests.plugin_steps)
        "COLUMNS": "200",
    }
    procs: list[subprocess.Popen[str]] = []
    try:
        _wait("the Prefect server on PostgreSQL", lambda: _answers(f"{api}/health"), proc=server)  # type: ignore[arg-type]
        deployed = warroom_done("deploy", "--pool", POOL, "--pool-type", "process", env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert f"deployed respond/svc-capacity on work pool {POOL} (process)" in deployed.stdout
        worker = warroom(
            "worker",
            "--pool",
            POOL,
            env={**env, "WARROOM_HOME": str(base / "worker")},
            output=base / "worker.log",
            start_new_session=True,
        )
        procs.append(worker)
        receivers = {}
        for name in ("a", "b"):
            rport = free_port()
            proc = warroom(
                "receiver",
                "--port",
                str(rport),
                env={**env, "WARROOM_HOME": str(base / f"receiver-{name}")},
                output=base / f"receiver-{name}.log",
                start_new_session=True,
            )
            procs.append(proc)
            receivers[f"http://127.0.0.1:{rport}"] = proc
        for url, proc in receivers.items():
            _wait(f"receiver {url}", lambda url=url: _answers(f"{url}/healthz"), proc=proc)
        yield Cluster(api, ledger_url, env, receivers, worker, base)
    finally:
        for proc in procs:
            stop_up(proc)
        stop_up(server, signal.SIGTERM)
        server_log.close()
        _drop_pg_database(PG_URL, prefect_name)
        _drop_pg_database(PG_URL, ledger_name)


def _post(url: str, alert: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{url}/alerts/generic", json=alert, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )


def _flow_runs(api: str, dedup_keys: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flow_runs": {"tags": {"all_": ["source:alert"]}}, "limit": 200, "offset": offset},
            timeout=30,
        ).json()
        found += [r for r in page if r["parameters"].get("dedup_key") in dedup_keys]
        if len(page) < 200:
            return found
        offset += 200


def test_the_same_alert_at_two_receivers_runs_once_on_the_worker_and_applies_after_approval(
    cluster: Cluster,
) -> None:
    store = Store(cluster.ledger_url)
    enrolled = warroom_done("approvers", "register", "alice", env=cluster.env)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    totp = uris_of(enrolled.stdout)["approve"]
    with running_service() as (url, state):
        alert = {
            "title": "ServiceUnhealthy",
            "labels": {"service": "checkout"},
            "annotations": {"service_url": url, "summary": "healthz failing"},
            "fingerprint": f"same-{uuid.uuid4().hex[:8]}",
        }
        barrier = threading.Barrier(2)

        def post(receiver: str) -> httpx.Response:
            barrier.wait()
            return _post(receiver, alert)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(post, list(cluster.receivers)))
        assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
        [incident] = {a.json()["results"][0]["incident"] for a in answers}
        assert sorted(a.json()["results"][0]["launch_queued"] for a in answers) == [False, True]

        # Asked once the gate is open: each early `warroom approve` is a process start, and spends a code.
        _wait("the gate to open", lambda: _timeline_has(store, incident, "approval.requested"))
        approved = None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            approved = warroom_done(
                "approve",
                incident,
                "--as",
                "alice",
                "--reason",
                "scale",
                "--code",
                fresh_code(totp),
                env=cluster.env,
            )
            if approved.returncode == 0:
                break
            time.sleep(1)
        assert approved is not None and approved.returncode == 0, approved.stdout + approved.stderr
        _wait("the incident resolved", lambda: store.get(incident).status.value == "resolved")
    assert state.scale_calls == [4]
    launches = store.launches(int(incident.split("-")[1]))
    timeline = [e.kind for e in store.timeline(incident)]
    store.close()
    assert len(launches) == 1 and launches[0].state == "launched"
    # Both receipts are on the one incident's timeline; one launch, one run.
    assert timeline.count("alert.firing") == 2 and timeline.count("run.started") == 1
    [run] = [r for r in _flow_runs(cluster.api, {launches[0].dedup_key})]
    assert run["state_type"] == "COMPLETED" and run["work_pool_name"] == POOL


def test_kill_9_of_the_launching_receiver_mid_storm_loses_no_accepted_alert_and_every_incident_gets_one_run(
    cluster: Cluster,
) -> None:
    stop_up(cluster.worker)  # the storm's runs stay scheduled: this counts launches, not diagnostics
    store = Store(cluster.ledger_url)
    storm = uuid.uuid4().hex[:8]
    fingerprints = [f"storm-{storm}-{i}" for i in range(20)]
    alerts = [
        {
            "title": "ServiceUnhealthy",
            "labels": {"service": f"svc-{i % 20}"},
            "annotations": {"service_url": "http://127.0.0.1:9", "summary": "storm"},
            "fingerprint": fingerprints[i % 20],
        }
        for i in range(400)
    ]
    holder = store.lease_holder(LEASE) or ""
    pid = int(re.search(r":(\d+):", holder).group(1))  # type: ignore[union-attr]
    launching = {u: p for u, p in cluster.receivers.items() if _pid_tree(p.pid, pid)}
    assert len(launching) == 1, (holder, [p.pid for p in cluster.receivers.values()])
    [victim] = launching.values()
    accepted: list[int] = []
    refused = 0
    lock = threading.Lock()

    def send(i: int) -> None:
        nonlocal refused
        if i == 120:
            os.killpg(victim.pid, signal.SIGKILL)  # mid-storm, with launches in flight
        url = list(cluster.receivers)[i % 2]
        try:
            resp = _post(url, alerts[i])
        except httpx.HTTPError:
            with lock:
                refused += 1
            return
        with lock:
            if resp.status_code == 202:
                accepted.append(resp.json()["payload_id"])
            else:
                refused += 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(len(alerts))))
    victim.wait(timeout=10)
    cluster.stopped.append(victim)
    assert refused > 0 and len(accepted) > 200  # half the storm went to the dead one after the kill

    keys = {f"svc-capacity:{f}" for f in fingerprints}
    numbers: set[int] = set()

    def all_launched() -> bool:
        numbers.clear()
        rows = [launch for launch in store.launches() if launch.dedup_key in keys]
        numbers.update(launch.incident_number for launch in rows)
        return len(rows) == 20 and all(launch.state == "launched" for launch in rows)

    _wait("every storm incident launched by the surviving receiver", all_launched, timeout=90)
    survivor = store.lease_holder(LEASE)
    for payload_id in accepted:  # every alert that got a 2xx is in the ledger, parsed
        assert store.payload(payload_id).state == "accepted"
    assert len(numbers) == 20  # one incident per fingerprint
    runs = _flow_runs(cluster.api, keys)
    assert sorted(r["parameters"]["dedup_key"] for r in runs) == sorted(keys)  # one run each, none twice
    store.close()
    assert survivor is not None and survivor != holder


def _pid_tree(root: int, pid: int) -> bool:
    """Is ``pid`` the process ``root`` or one of its descendants (`warroom` may run under a wrapper, and the
    launch loop runs in a process a receiver's thread started)?"""
    if root == pid:
        return True
    children: list[str] = []
    for task in Path(f"/proc/{root}/task").glob("*"):
        try:
            children += (task / "children").read_text().split()
        except OSError:
            continue
    return any(_pid_tree(int(c), pid) for c in children)


def test_the_shipped_prefect_yaml_is_what_warroom_deploy_registers_and_prefect_deploy_takes_it(
    cluster: Cluster,
) -> None:
    shipped = (REPO / "deployments" / "prefect.yaml").read_text()
    runbooks = {**cluster.env, "WARROOM_RUNBOOKS_DIR": str(REPO / "runbooks")}
    generated = warroom_done("deploy", "--pool", "warroom", "--prefect-yaml", "-", env=runbooks)
    assert generated.returncode == 0 and generated.stdout == shipped, "regenerate deployments/prefect.yaml"

    def prefect(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", *args],
            cwd=REPO,
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    prefect("work-pool", "create", "warroom", "--type", "process")
    prefect("deploy", "--all", "--prefect-file", str(REPO / "deployments" / "prefect.yaml"))
    found = httpx.post(
        f"{cluster.api}/deployments/filter", json={"work_pools": {"name": {"any_": ["warroom"]}}}, timeout=30
    ).json()
    by_name = {d["name"]: d for d in found}
    assert sorted(by_name) == sorted(
        [p.stem for p in (REPO / "runbooks").glob("*.yaml")]
        + ["take-an-incident", "publish", "draft", "weekly", "every-15-minutes"]
    )
    bad_deploy = by_name["k8s-bad-deploy"]
    assert bad_deploy["entrypoint"] == "flows.respond.respond"
    assert bad_deploy["parameters"] == {"runbook": "k8s-bad-deploy", "params": {}}
    assert bad_deploy["tags"] == ["runbook:k8s-bad-deploy"] and bad_deploy["concurrency_limit"] is None


def _paused_at_a_gate(api: str, incident: str) -> bool:
    body = {
        "flow_runs": {"tags": {"all_": [f"incident:{incident}"]}, "state": {"type": {"any_": ["PAUSED"]}}}
    }
    return bool(httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).json())


def _timeline_has(store: Store, incident: str, kind: str, count: int = 1) -> bool:
    return [e.kind for e in store.timeline(incident)].count(kind) >= count


def test_the_warm_worker_runs_a_storm_and_a_gate_survives_kill_9_of_the_worker(cluster: Cluster) -> None:
    """The default pool type: runs in threads of `warroom worker`. Its death under a waiting gate loses
    nothing: the keeper schedules the run again, another warm worker re-enters the same gate."""
    deployed = warroom_done("deploy", "--pool", "warm", env=cluster.env)
    assert deployed.returncode == 0 and "on work pool warm (warroom)" in deployed.stdout, deployed.stdout
    worker_env = {**cluster.env, "WARROOM_HOME": str(cluster.base / "warm-worker")}
    log = cluster.base / "warm-worker.log"
    first = warroom("worker", "--pool", "warm", env=worker_env, output=log, start_new_session=True)
    store = Store(cluster.ledger_url)
    enrolled = warroom_done("approvers", "register", "dave", env=cluster.env)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    totp = uris_of(enrolled.stdout)["approve"]
    second = None
    try:
        with running_service() as (url, state):
            receiver = next(u for u, p in cluster.receivers.items() if p.poll() is None)
            alerts = [
                {
                    "title": "ServiceUnhealthy",
                    "labels": {"service": f"warm-{i}"},
                    "annotations": {"service_url": url, "summary": "healthz failing"},
                    "fingerprint": f"warm-{uuid.uuid4().hex[:8]}",
                }
                for i in range(6)
            ]
            incidents = [_post(receiver, a).json()["results"][0]["incident"] for a in alerts]
            for incident in incidents:  # every run reached its gate on the one warm worker
                _wait(
                    f"{incident} at its gate",
                    lambda i=incident: _timeline_has(store, i, "approval.requested"),
                    proc=first,
                )
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            second = warroom("worker", "--pool", "warm", env=worker_env, output=log, start_new_session=True)
            target = incidents[0]
            _wait(
                "the gate re-entered on the new worker",
                lambda: _timeline_has(store, target, "approval.reentered"),
                proc=second,
                log=[
                    log,
                    *(cluster.base / f"receiver-{n}.log" for n in "ab"),
                ],  # the keepers say what they did
            )
            kinds = [e.kind for e in store.timeline(target)]
            assert "run.restarting" in kinds and kinds.count("approval.requested") == 1
            # What `warroom approve` looks for: the run paused at its gate again (recorded as re-entered
            # first, paused a moment later; on a loaded machine that moment can pass the CLI's own wait).
            _wait(
                "the run paused at its gate again",
                lambda: _paused_at_a_gate(cluster.api, target),
                proc=second,
                log=log,
            )
            approved = warroom_done(
                "approve",
                target,
                "--as",
                "dave",
                "--reason",
                "scale",
                "--code",
                fresh_code(totp),
                env=cluster.env,
            )
            assert approved.returncode == 0, approved.stdout + approved.stderr
            _wait("resolved", lambda: store.get(target).status.value == "resolved")
            assert state.scale_calls == [4]  # once, after the approval, on the second worker
            assert [e.kind for e in store.timeline(target)].count("mitigation.applied") == 1
    finally:
        stop_up(first)
        if second is not None:
            stop_up(second)
        store.close()


LANE_RUNBOOK = """\
name: lane-probe
description: A check whose level the alert's severity label decides.
match: {alertname: LaneProbe}
severity:
  - when: "alert.labels.severity == 'critical'"
    level: P1
  - level: P4
params:
  service_url: {type: string, from: alert.annotations.service_url}
diagnostics:
  - id: health
    use: http.check
    with: {url: "{{ params.service_url }}/healthz", retries: 0}
"""


def _lane_of(api: str, flow_run_id: str) -> tuple[str, str]:
    """The run's work queue, and the lane of the worker process Prefect records as running it."""
    run = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=30).json()
    pid = pid_of(run["infrastructure_pid"])
    command = _command_of(pid)
    return run["work_queue_name"], command[command.index("--lane") + 1]


def _command_of(pid: int) -> list[str]:
    """A process's command line as `ps` shows it (a forked lane's is its title: one string, spaces)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().split()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:  # the thread or the process ended meanwhile
            continue
    return found


def _children_of(pid: int, holding: str) -> list[int]:
    """The children of ``pid`` whose command line holds ``holding``."""
    found = []
    for child in _children(pid):
        try:
            if holding in " ".join(_command_of(child)):
                found.append(child)
        except OSError:
            continue
    return found


def _lanes_of(worker: int) -> dict[str, int]:
    """The lane processes `warroom worker` runs, children of its process template: {lane: pid}."""
    found = {}
    todo = [worker]
    while todo:
        for child in _children(todo.pop()):
            try:
                command = _command_of(child)
            except OSError:
                continue
            todo.append(child)
            if "--lane" in command:
                found[command[command.index("--lane") + 1]] = child
    return found


def test_a_p1_takes_the_urgent_lane_a_warm_process_of_its_own_and_a_p4_the_normal_one(
    cluster: Cluster,
) -> None:
    (cluster.base / "runbooks" / "lane-probe.yaml").write_text(LANE_RUNBOOK)
    deployed = warroom_done("deploy", "--pool", "warm", env=cluster.env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    worker = warroom(
        "worker",
        "--pool",
        "warm",
        env={**cluster.env, "WARROOM_HOME": str(cluster.base / "lanes")},
        output=cluster.base / "lanes.log",
        start_new_session=True,
    )
    store = Store(cluster.ledger_url)
    try:
        with running_service() as (url, _):
            receiver = next(u for u, p in cluster.receivers.items() if p.poll() is None)
            levels = {}
            for severity in ("critical", "info"):
                alert = {
                    "title": "LaneProbe",
                    "labels": {"severity": severity},
                    "annotations": {"service_url": url},
                    "fingerprint": f"lane-{severity}-{uuid.uuid4().hex[:8]}",
                }
                levels[severity] = _post(receiver, alert).json()["results"][0]["incident"]
            for incident in levels.values():
                _wait(
                    f"{incident} resolved or finished",
                    lambda i=incident: _timeline_has(store, i, "diagnostic.result"),
                    proc=worker,
                )
            lanes = {}
            for severity, incident in levels.items():
                (launch,) = [e for e in store.timeline(incident) if e.kind == "runbook.launched"]
                lanes[severity] = _lane_of(cluster.api, launch.data["flow_run_id"])
            assert lanes == {"critical": ("urgent", "urgent"), "info": ("default", "normal")}
        # A lane that dies is started again by the worker that started it; the other lane lives on.
        before = _lanes_of(worker.pid)
        os.kill(before["urgent"], signal.SIGKILL)
        _wait(
            "the urgent lane started again",
            lambda: _lanes_of(worker.pid).get("urgent", before["urgent"]) != before["urgent"],
            proc=worker,
        )
        assert _lanes_of(worker.pid)["normal"] == before["normal"]
        # The process template they are forked from dies: both lanes die with it, and come back forked from
        # a new one.
        (template,) = _children_of(worker.pid, "deployments.template")
        lanes = _lanes_of(worker.pid)
        os.kill(template, signal.SIGKILL)
        _wait(
            "both lanes started again from a new template",
            lambda: len(now := _lanes_of(worker.pid)) == 2 and not set(now.values()) & set(lanes.values()),
            proc=worker,
        )
        assert _children_of(worker.pid, "deployments.template") != [template]
    finally:
        stop_up(worker)
        store.close()
        (cluster.base / "runbooks" / "lane-probe.yaml").unlink()
