"""A gate served by `warroom up` as people meet it: held past every Prefect lease and poll, the whole
`warroom up` killed with -9 under it, started again, approved from another terminal, applied once.

Prefect's timings are made short through its settings (lease 30 s, the least it allows; repossessor,
late-run and pause-expiration loops 1 s; flow heartbeats 30 s) and
Warroom's through its own (heartbeat 0.5 s, a silent run is stale after 4 s), so minutes fit in seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, uris_of, write_runbook
from tests.net import free_port
from tests.service import running_service
from tests.up_process import stop_up
from warroom.ledger import RunLedger, Store
from warroom.signing import make_key, start_message
from warroom.starts import START_INPUT, START_TAG, params_digest

LOGIN = ("warroom", "gate-test")  # the test's Prefect server is guarded, as `warroom up`'s is
LOGIN_STRING = ":".join(LOGIN)
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
        settings = Settings(
            home=tmp_path / "prefect-server", prefect_port=free_port(), prefect_auth=LOGIN_STRING
        )
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
        PREFECT_API_AUTH_STRING=LOGIN_STRING,
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
        [sys.executable, "-m", "cli", "up"],
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
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5, auth=LOGIN).json()
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


class Served:
    """`warroom up` on the test's Prefect server, alice enrolled, and the ledger it writes."""

    def __init__(self, api: str, tmp_path: Path, *, timeout: str, short: bool = True) -> None:
        write_runbook(
            tmp_path / "runbooks",
            CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", timeout).replace(" ESCALATE", ""),
        )
        self.api = api
        self.env = _env(tmp_path, api)
        if not short:  # Prefect's and Warroom's own defaults
            for k in [*SHORT, "WARROOM_RUN_HEARTBEAT_SECONDS", "WARROOM_RUN_STALE_SECONDS"]:
                self.env.pop(k, None)
            self.env.pop("WARROOM_KEEPER_POLL_SECONDS")
        self.log = tmp_path / "up.log"
        enrolled = self.warroom("approvers", "register", "alice")
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        self.totp = uris_of(enrolled.stdout)["approve"]
        # dave starts runs as `warroom run` does: signed with the key he made on his own machine
        self.dave = make_key(tmp_path / "dave-laptop" / "key.pem", "dave")
        registered = self.warroom("approvers", "register", "dave", "--public-key", self.dave.public_line())
        assert registered.returncode == 0, registered.stdout + registered.stderr
        self.ups: list[subprocess.Popen[bytes]] = []
        self.store = Store(f"sqlite:///{tmp_path / 'home' / 'warroom.db'}")

    def warroom(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def up(self) -> subprocess.Popen[bytes]:
        self.ups.append(_up(self.env, self.log))
        return self.ups[-1]

    def deployment(self) -> dict:  # type: ignore[type-arg]
        return _wait("the runbook to be served", lambda: _deployment(self.api), log=self.log)  # type: ignore[no-any-return]

    def start(self, service_url: str) -> str:
        """A run of the deployment, made as `warroom run` makes one for dave (the deployment's API, tagged as
        vouched for, then dave's signature over that run and its parameters as its input), again when
        the server is busy; its flow run id."""
        url = f"{self.api}/deployments/{self.deployment()['id']}/create_flow_run"
        parameters = {
            "runbook": "svc-capacity",
            "params": {"service_url": service_url},
            "requested_by": "dave",
        }
        body = {"parameters": parameters, "tags": [START_TAG]}
        for _ in range(10):
            response = httpx.post(url, json=body, auth=LOGIN)
            if response.status_code < 500:
                break
            time.sleep(1)  # the server's SQLite is busy (503): a person clicks again
        flow_run_id = str(response.json()["id"])
        message = start_message(
            flow_run_id=flow_run_id,
            runbook="svc-capacity",
            params_digest=params_digest(**{**parameters, "alert": None, "dedup_key": None}),
            starter="dave",
        )
        signed = {"starter": "dave", "signature": self.dave.sign(message)}
        for _ in range(10):
            posted = httpx.post(
                f"{self.api}/flow_runs/{flow_run_id}/input",
                json={"key": START_INPUT, "value": json.dumps(signed)},
                auth=LOGIN,
            )
            if posted.status_code < 500:
                break
            time.sleep(1)
        assert posted.status_code == 201, posted.text
        return flow_run_id

    def flow_run(self, flow_run_id: str) -> dict:  # type: ignore[type-arg]
        return httpx.get(f"{self.api}/flow_runs/{flow_run_id}", auth=LOGIN).json()  # type: ignore[no-any-return]

    def paused(self, flow_run_id: str, other_than: str | None = None) -> dict:  # type: ignore[type-arg]
        """Wait for the run to pause at a gate (at another pause than ``other_than``)."""

        def check() -> dict | None:  # type: ignore[type-arg]
            fr = self.flow_run(flow_run_id)
            state = fr["state"]
            if state["type"] == "PAUSED" and state["state_details"]["pause_key"] != other_than:
                return fr
            return None

        return _wait("the gate to open", check, timeout=120, log=self.log)  # type: ignore[no-any-return]

    def approve(self, incident: str, reason: str, step: int = 0) -> str:
        """alice's answer with her code of ``step`` 30 s steps on (the gate takes one step of drift): a code
        counts once, so a second answer within the same step needs the next one."""
        code = self.totp.at(time.time() + 30 * step)
        done = self.warroom("approve", incident, "--as", "alice", "--reason", reason, "--code", code)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def resolved(self, incident: str) -> None:
        _wait(
            "the incident to resolve",
            lambda: self.store.get(incident).status.value == "resolved",
            log=self.log,
        )

    def close(self) -> None:
        self.store.close()
        for proc in self.ups:
            if proc.poll() is None:
                stop_up(proc)


def _incident(flow_run: dict) -> str:  # type: ignore[type-arg]
    incident = re.sub(r":.*", "", flow_run["name"])
    assert re.fullmatch(r"INC-\d+", incident), flow_run["name"]
    return incident


def test_gate_held_past_leases_survives_kill_9_of_warroom_up_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    served = Served(prefect_server, tmp_path, timeout="10m")
    up = served.up()
    try:
        assert served.deployment()["concurrency_limit"] is None  # a limited run's lease crashes a paused run
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            fr = served.paused(flow_run_id)
            first_key = fr["state"]["state_details"]["pause_key"]
            assert "waiting for approval of scale_up" in fr["state"]["message"]
            assert fr["state"]["state_details"].get("deployment_concurrency_lease_id") is None
            incident = _incident(fr)

            # Held past the lease (30 s), the service loops (1 s), a flow heartbeat (30 s) and the keeper's
            # stale mark (4 s) many times over: still paused, same pause, nothing executed.
            time.sleep(40)
            fr = served.flow_run(flow_run_id)
            assert fr["state"]["type"] == "PAUSED", fr["state"]
            assert fr["state"]["state_details"]["pause_key"] == first_key

            # kill -9: warroom up and the run's own process, as a machine that loses power.
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            _kill_flow_run_processes(flow_run_id)  # in case it outlived its parent in a session of its own
            time.sleep(2)
            assert _kill_flow_run_processes(flow_run_id) == 0  # nothing of the run is left alive
            assert served.flow_run(flow_run_id)["state"]["type"] == "PAUSED"
            assert state.scale_calls == []

            served.up()
            served.paused(flow_run_id, other_than=first_key)  # the gate is open again after the restart
            assert "granted" in served.approve(incident, "scale after the restart")
            served.resolved(incident)
            assert state.scale_calls == [4]  # applied once
        kinds = [e.kind for e in served.store.timeline(incident)]
        assert kinds.count("mitigation.proposed") == 1
        assert kinds.count("approval.requested") == 1
        assert kinds.count("mitigation.applied") == 1
        assert "run.restarting" in kinds and "approval.reentered" in kinds and "run.reentered" in kinds
    finally:
        served.close()


def test_a_retried_run_records_fresh_evidence_and_approve_reports_its_own_verdict(
    prefect_server: str, tmp_path: Path
) -> None:
    """The UI's Retry of a run that crashed at its gate: a new attempt with its own diagnostics, proposal
    and gate; the old gate is closed; `warroom approve` answers the new one and prints its verdict."""
    served = Served(prefect_server, tmp_path, timeout="10m")
    # The runner that lost the process marks the run crashed; the keeper must not race it to re-enter.
    served.env["WARROOM_RUN_STALE_SECONDS"] = "60"
    served.up()
    try:
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            fr = served.paused(flow_run_id)
            incident = _incident(fr)
            _kill_flow_run_processes(flow_run_id)  # the run's process dies; warroom up lives on
            _wait(
                "the run to be written off",
                lambda: "run.lost" in [e.kind for e in served.store.timeline(incident)],
                log=served.log,
            )
            # What the UI's Retry does: the run back to AwaitingRetry, for its runner to start again.
            retried = httpx.post(
                f"{served.api}/flow_runs/{flow_run_id}/set_state",
                json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
                auth=LOGIN,
            )
            assert retried.status_code in (200, 201), retried.text
            served.paused(flow_run_id, other_than=fr["state"]["state_details"]["pause_key"])
            assert "granted" in served.approve(incident, "retry looks right")
            served.resolved(incident)
            assert state.scale_calls == [4]
        events = served.store.timeline(incident)
        proposed = [e for e in events if e.kind == "mitigation.proposed"]
        diagnosed = [e for e in events if e.kind == "diagnostic.result"]
        assert len(proposed) == 2 and len(diagnosed) == 4  # the retry's own evidence, recorded anew
        assert [e.kind for e in events].count("approval.granted") == 1
    finally:
        served.close()


@pytest.mark.realtime
def test_gate_open_more_than_five_real_minutes_is_approved_and_applies_once(
    prefect_server: str, tmp_path: Path
) -> None:
    """5.5 minutes of real time, past the 225 s at which a run renews a deployment concurrency lease,
    with Warroom's default heartbeat and keeper timings (`pytest -m realtime`)."""
    served = Served(prefect_server, tmp_path, timeout="30m", short=False)
    served.up()
    try:
        with running_service() as (url, state):
            flow_run_id = served.start(url)
            incident = _incident(served.paused(flow_run_id))
            opened = time.monotonic()
            time.sleep(330)
            assert served.flow_run(flow_run_id)["state"]["type"] == "PAUSED"
            assert "granted" in served.approve(incident, "after five minutes")
            served.resolved(incident)
            held = time.monotonic() - opened
            print(f"gate open {held:.0f} s of real time, then approved; scale calls {state.scale_calls}")
            assert state.scale_calls == [4]
    finally:
        served.close()


def test_a_run_patched_or_copied_through_the_api_has_no_proven_starter_and_one_approver_changes_nothing(
    prefect_server: str, tmp_path: Path
) -> None:
    """Finding 1, as an attacker with the operator's login and the REST API alone: while dave's signed run
    waits for a worker, PATCH its parameters (replicas=40), and make a run of their own with the same
    parameters and a copy of dave's signed start. Both starters are unknown, so four-eyes needs two
    people: alice's approval alone changes nothing."""
    served = Served(prefect_server, tmp_path, timeout="10m")
    up = served.up()
    deployment = served.deployment()
    stop_up(up)  # no worker for a while: the runs wait SCHEDULED, as they do for a busy worker
    try:
        with running_service() as (url, state):
            victim = served.start(url)
            api = served.api
            parameters = served.flow_run(victim)["parameters"]
            patched = {**parameters, "params": {"service_url": url, "replicas": 40}}
            response = httpx.patch(f"{api}/flow_runs/{victim}", json={"parameters": patched}, auth=LOGIN)
            assert response.status_code == 204, response.text  # Prefect takes it: the run must not
            proof = httpx.get(f"{api}/flow_runs/{victim}/input/{START_INPUT}", auth=LOGIN)
            assert proof.status_code == 200  # readable by every API user, and useless to them
            made = httpx.post(
                f"{api}/deployments/{deployment['id']}/create_flow_run",
                json={"parameters": patched, "tags": [START_TAG]},
                auth=LOGIN,
            ).json()
            copied = httpx.post(
                f"{api}/flow_runs/{made['id']}/input",
                json={"key": START_INPUT, "value": proof.text},
                auth=LOGIN,
            )
            assert copied.status_code == 201, copied.text
            served.up()
            for step, run in enumerate((victim, made["id"])):
                fr = served.paused(run)
                incident = _incident(fr)
                timeline = served.store.timeline(incident)
                [started] = [e for e in timeline if e.kind == "run.started"]
                assert started.data["starter_proven"] is False, started.text
                assert "did not verify" in started.data["starter_why"], started.data
                [requested] = [e for e in timeline if e.kind == "approval.requested"]
                assert requested.data["required"] == 2  # nobody can show alice did not start it
                assert "granted" in served.approve(incident, "looks fine", step)
                served.paused(run, other_than=fr["state"]["state_details"]["pause_key"])
                gate = RunLedger(served.store).gate(requested.data["gate"])
                assert gate.granted == ["alice"] and gate.state.value == "open"
            assert state.scale_calls == []  # one person passed no four-eyes gate
    finally:
        served.close()
