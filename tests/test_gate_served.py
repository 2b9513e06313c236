"""A gate served by `warroom up` as people meet it: held past every Prefect lease and poll, the whole
`warroom up` killed with -9 under it, started again, approved from another terminal, applied once.

Prefect's timings are made short through its settings (lease 30 s, the least it allows; repossessor,
late-run and pause-expiration loops 1 s; flow heartbeats 30 s) and
Warroom's through its own (heartbeat 0.5 s, a silent run is stale after 4 s), so minutes fit in seconds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, write_runbook
from tests.net import free_port
from tests.service import running_service
from warroom.store import Store

SHORT = {
    "PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_LEASE_DURATION": "30",  # the least Prefect allows
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "1",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
}


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[str]:
    """A Prefect server of this test's own, with its leases and service loops made short."""
    from deployments.serve import local_prefect_server
    from warroom.settings import Settings

    saved = {k: os.environ.get(k) for k in SHORT}
    os.environ.update(SHORT)
    try:
        settings = Settings(home=tmp_path / "prefect-server", prefect_port=free_port())
        with local_prefect_server(settings) as api:
            yield api
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _env(tmp_path: Path, api: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
    env.update(
        SHORT,
        PREFECT_API_URL=api,
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        WARROOM_HOME=str(tmp_path / "home"),
        WARROOM_RUNBOOKS_DIR=str(tmp_path / "runbooks"),
        WARROOM_STEP_MODULES='["tests.plugin_steps"]',
        WARROOM_APPROVER_GROUPS='{"sre": ["alice"]}',
        WARROOM_RECEIVER_PORT=str(free_port()),
        WARROOM_RUN_HEARTBEAT_SECONDS="0.5",
        WARROOM_RUN_STALE_SECONDS="4",
        WARROOM_KEEPER_POLL_SECONDS="0.5",
        COLUMNS="200",
    )
    return env


def _up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "warroom.cli", "up"],
        cwd=REPO,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(what: str, check, timeout: float = 90, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text()[-4000:]}" if log else ""))


def _deployment(api: str) -> dict | None:  # type: ignore[type-arg]
    try:
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    return next((d for d in found if d["name"] == "svc-capacity"), None)


def _kill_flow_run_processes(flow_run_id: str) -> int:
    """Kill the processes running this flow run, wherever their parent is: a machine that lost power."""
    killed = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if flow_run_id.encode() in environ or flow_run_id.encode() in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_gate_held_past_leases_survives_kill_9_of_warroom_up_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    api = prefect_server
    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "10m").replace(" ESCALATE", "")
    )
    env = _env(tmp_path, api)
    log = tmp_path / "up.log"
    enrolled = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "approvers", "enroll", "alice"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    totp = pyotp.parse_uri(enrolled.stdout.strip().splitlines()[-1])

    up = _up(env, log)
    second: subprocess.Popen[bytes] | None = None
    store = Store(f"sqlite:///{tmp_path / 'home' / 'warroom.db'}")
    try:
        deployment = _wait("the runbook to be served", lambda: _deployment(api), log=log)
        assert deployment["concurrency_limit"] is None  # a limited run's lease crashes a paused run
        with running_service() as (url, state):
            run = httpx.post(
                f"{api}/deployments/{deployment['id']}/create_flow_run",
                json={"parameters": {"runbook": "svc-capacity", "params": {"service_url": url}}},
            ).json()
            flow_run_id = run["id"]

            def paused() -> dict | None:  # type: ignore[type-arg]
                fr = httpx.get(f"{api}/flow_runs/{flow_run_id}").json()
                return fr if fr["state"]["type"] == "PAUSED" else None

            fr = _wait("the gate to open", paused, log=log)
            first_key = fr["state"]["state_details"]["pause_key"]
            assert "waiting for approval of scale_up" in fr["state"]["message"]
            assert fr["state"]["state_details"].get("deployment_concurrency_lease_id") is None

            # Held past the lease (30 s), the service loops (1 s), a flow heartbeat (30 s) and the keeper's
            # stale mark (4 s) many times over: still paused, same pause, nothing executed.
            time.sleep(40)
            fr = httpx.get(f"{api}/flow_runs/{flow_run_id}").json()
            assert fr["state"]["type"] == "PAUSED", fr["state"]
            assert fr["state"]["state_details"]["pause_key"] == first_key
            incident = re.sub(r":.*", "", fr["name"])
            assert re.fullmatch(r"INC-\d+", incident), fr["name"]

            # kill -9: warroom up and the run's own process, as a machine that loses power.
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            _kill_flow_run_processes(flow_run_id)  # in case it outlived its parent in a session of its own
            time.sleep(2)
            assert _kill_flow_run_processes(flow_run_id) == 0  # nothing of the run is left alive
            assert httpx.get(f"{api}/flow_runs/{flow_run_id}").json()["state"]["type"] == "PAUSED"
            assert state.scale_calls == []

            second = _up(env, log)

            def reopened() -> dict | None:  # type: ignore[type-arg]
                fr = paused()
                return fr if fr and fr["state"]["state_details"]["pause_key"] != first_key else None

            _wait("the gate to be open again after the restart", reopened, timeout=120, log=log)
            approved = subprocess.run(
                [
                    *(sys.executable, "-m", "warroom.cli", "approve", incident, "--as", "alice"),
                    *("--reason", "scale after the restart", "--code", totp.now()),
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert approved.returncode == 0, approved.stdout + approved.stderr
            assert "granted" in approved.stdout
            _wait(
                "the incident to resolve",
                lambda: store.get(incident).status.value == "resolved",
                log=log,
            )
            assert state.scale_calls == [4]  # applied once
        kinds = [e.kind for e in store.timeline(incident)]
        assert kinds.count("mitigation.proposed") == 1
        assert kinds.count("approval.requested") == 1
        assert kinds.count("mitigation.applied") == 1
        assert "run.restarting" in kinds and "approval.reentered" in kinds and "run.reentered" in kinds
    finally:
        store.close()
        if second is not None:
            _stop(second)
        if up.poll() is None:
            _stop(up)


def test_a_retried_run_records_fresh_evidence_and_approve_reports_its_own_verdict(
    prefect_server: str, tmp_path: Path
) -> None:
    """The UI's Retry of a run that crashed at its gate: a new attempt with its own diagnostics, proposal
    and gate; the old gate is closed; `warroom approve` answers the new one and prints its verdict."""
    api = prefect_server
    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "10m").replace(" ESCALATE", "")
    )
    env = _env(tmp_path, api)
    log = tmp_path / "up.log"
    enrolled = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "approvers", "enroll", "alice"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    totp = pyotp.parse_uri(enrolled.stdout.strip().splitlines()[-1])
    up = _up(env, log)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'warroom.db'}")
    try:
        deployment = _wait("the runbook to be served", lambda: _deployment(api), log=log)
        with running_service() as (url, state):
            run = httpx.post(
                f"{api}/deployments/{deployment['id']}/create_flow_run",
                json={"parameters": {"runbook": "svc-capacity", "params": {"service_url": url}}},
            ).json()
            flow_run_id = run["id"]

            def state_of() -> dict:  # type: ignore[type-arg]
                return httpx.get(f"{api}/flow_runs/{flow_run_id}").json()  # type: ignore[no-any-return]

            fr = _wait(
                "the gate to open", lambda: state_of()["state"]["type"] == "PAUSED" and state_of(), log=log
            )
            incident = re.sub(r":.*", "", fr["name"])
            _kill_flow_run_processes(flow_run_id)  # the run's process dies; warroom up lives on
            _wait(
                "the run to be written off",
                lambda: "run.lost" in [e.kind for e in store.timeline(incident)],
                log=log,
            )
            # What the UI's Retry does: the run back to AwaitingRetry, for its runner to start again.
            retried = httpx.post(
                f"{api}/flow_runs/{flow_run_id}/set_state",
                json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
            )
            assert retried.status_code in (200, 201), retried.text
            _wait(
                "the retry to reach its gate",
                lambda: (
                    len([e for e in store.timeline(incident) if e.kind == "approval.requested"]) == 2
                    and state_of()["state"]["type"] == "PAUSED"
                ),
                log=log,
            )
            approved = subprocess.run(
                [
                    *(sys.executable, "-m", "warroom.cli", "approve", incident, "--as", "alice"),
                    *("--reason", "retry looks right", "--code", totp.now()),
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert approved.returncode == 0, approved.stdout + approved.stderr
            assert "granted" in approved.stdout
            _wait("the incident to resolve", lambda: store.get(incident).status.value == "resolved", log=log)
            assert state.scale_calls == [4]
        events = store.timeline(incident)
        proposed = [e for e in events if e.kind == "mitigation.proposed"]
        diagnosed = [e for e in events if e.kind == "diagnostic.result"]
        assert len(proposed) == 2 and len(diagnosed) == 4  # the retry's own evidence, recorded anew
        assert [e.kind for e in events].count("approval.granted") == 1
    finally:
        store.close()
        _stop(up)


@pytest.mark.realtime
def test_gate_open_more_than_five_real_minutes_is_approved_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    """Prefect's defaults are not shortened here: 5.5 minutes of real time (`pytest -m realtime`)."""
    api = prefect_server
    write_runbook(
        tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "30m").replace(" ESCALATE", "")
    )
    env = {k: v for k, v in _env(tmp_path, api).items() if k not in SHORT}
    for k in ("WARROOM_RUN_HEARTBEAT_SECONDS", "WARROOM_RUN_STALE_SECONDS", "WARROOM_KEEPER_POLL_SECONDS"):
        env.pop(k)
    log = tmp_path / "up.log"
    enrolled = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "approvers", "enroll", "alice"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    totp = pyotp.parse_uri(enrolled.stdout.strip().splitlines()[-1])
    up = _up(env, log)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'warroom.db'}")
    try:
        deployment = _wait("the runbook to be served", lambda: _deployment(api), log=log)
        with running_service() as (url, state):
            run = httpx.post(
                f"{api}/deployments/{deployment['id']}/create_flow_run",
                json={"parameters": {"runbook": "svc-capacity", "params": {"service_url": url}}},
            ).json()
            fr = _wait(
                "the gate to open",
                lambda: (
                    (f := httpx.get(f"{api}/flow_runs/{run['id']}").json())["state"]["type"] == "PAUSED" and f
                ),
                log=log,
            )
            opened = time.monotonic()
            incident = re.sub(r":.*", "", fr["name"])
            time.sleep(330)
            assert httpx.get(f"{api}/flow_runs/{run['id']}").json()["state"]["type"] == "PAUSED"
            approved = subprocess.run(
                [
                    *(sys.executable, "-m", "warroom.cli", "approve", incident, "--as", "alice"),
                    *("--reason", "after five minutes", "--code", totp.now()),
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert approved.returncode == 0, approved.stdout + approved.stderr
            _wait("the incident to resolve", lambda: store.get(incident).status.value == "resolved", log=log)
            held = time.monotonic() - opened
            print(f"gate open {held:.0f} s of real time, then approved; scale calls {state.scale_calls}")
            assert state.scale_calls == [4]
    finally:
        store.close()
        _stop(up)
