"""`warroom up` serving one gated runbook against a Prefect server of its own, as people meet it: the
helpers of the served-gate tests (tests/test_gate_served.py) and of the re-entry bench (bench/reentry.py).

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from deployments.warm_worker import pid_of
from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, fresh_code, uris_of, write_runbook
from tests.net import free_port, post_retrying
from tests.patience import HANG
from tests.prefect_db import seed_prefect_home
from tests.up_process import stop_up, warroom_done
from warroom.ledger import Store
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


@contextmanager
def short_prefect_server(tmp_path: Path) -> Iterator[str]:
    """A Prefect server of its own, with its leases and service loops made short."""
    from deployments.serve import local_prefect_server
    from warroom.settings import Settings

    saved = {k: os.environ.get(k) for k in SHORT}
    os.environ.update(SHORT)
    try:
        settings = Settings(
            home=tmp_path / "prefect-server", prefect_port=free_port(), prefect_auth=LOGIN_STRING
        )
        seed_prefect_home(settings.home / "prefect")
        with local_prefect_server(settings) as api:
            yield api
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def served_env(tmp_path: Path, api: str) -> dict[str, str]:
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


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "up"],
        cwd=REPO,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(  # type: ignore[no-untyped-def]
    what: str,
    check,
    timeout: float = HANG,
    log: Path | list[Path] | None = None,
    proc: subprocess.Popen[Any] | None = None,
):
    """``check()``'s first true value; fails at ``timeout``, or at once when ``proc`` (what should make it
    true) has exited. ``log`` (or each of several) is shown either way."""

    def shown() -> str:
        logs = [log] if isinstance(log, Path) else log or []
        return "".join(f"\n--- {p.name}\n{p.read_text()[-4000:]}" for p in logs if p.exists())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited (code {proc.returncode}) while waiting for {what}" + shown())
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}" + shown())


def served_deployment(api: str) -> dict | None:  # type: ignore[type-arg]
    try:
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5, auth=LOGIN).json()
    except (httpx.HTTPError, ValueError):
        return None
    return next((d for d in found if d["name"] == "svc-capacity"), None)


def kill_flow_run_processes(flow_run_id: str, api: str | None = None) -> int:
    """Kill the processes running this flow run, wherever their parent is: a machine that lost power. A
    process per run names the run in its environment; a warm lane (which runs many) is the process Prefect
    records as the run's infrastructure (``host:pid:run``)."""
    killed = 0
    if api is not None:
        infrastructure = (
            httpx.get(f"{api}/flow_runs/{flow_run_id}", auth=LOGIN).json().get("infrastructure_pid")
        )
        if infrastructure:
            lane = pid_of(infrastructure)
            try:
                os.kill(lane, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
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
        self.env = served_env(tmp_path, api)
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
        return warroom_done(*args, env=self.env)

    def up(self) -> subprocess.Popen[bytes]:
        self.ups.append(start_up(self.env, self.log))
        return self.ups[-1]

    def deployment(self) -> dict:  # type: ignore[type-arg]
        return wait_for("the runbook to be served", lambda: served_deployment(self.api), log=self.log)  # type: ignore[no-any-return]

    def start(self, service_url: str) -> str:
        """A run of the deployment, made as `warroom run` makes one for dave (the deployment's API, tagged as
        vouched for, then dave's signature over that run and its parameters as its input), again when
        the server is busy; its flow run id."""
        parameters = {
            "runbook": "svc-capacity",
            "params": {"service_url": service_url},
            "requested_by": "dave",
        }
        created = self.post(
            f"/deployments/{self.deployment()['id']}/create_flow_run",
            {"parameters": parameters, "tags": [START_TAG]},
        )
        flow_run_id = str(created.json()["id"])
        message = start_message(
            flow_run_id=flow_run_id,
            runbook="svc-capacity",
            params_digest=params_digest(**{**parameters, "alert": None, "dedup_key": None}),
            starter="dave",
        )
        signed = {"starter": "dave", "signature": self.dave.sign(message)}
        posted = self.post(
            f"/flow_runs/{flow_run_id}/input", {"key": START_INPUT, "value": json.dumps(signed)}
        )
        assert posted.status_code == 201, posted.text
        return flow_run_id

    def post(self, path: str, body: dict) -> httpx.Response:  # type: ignore[type-arg]
        """A POST to the test's Prefect API, again while it answers 5xx (its SQLite busy)."""
        return post_retrying(f"{self.api}{path}", body, auth=LOGIN)

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

        return wait_for("the gate to open", check, log=self.log)  # type: ignore[no-any-return]

    def approve(self, incident: str, reason: str) -> str:
        """alice's answer with a code of hers the gate has not seen (a code counts once)."""
        code = fresh_code(self.totp)
        done = self.warroom("approve", incident, "--as", "alice", "--reason", reason, "--code", code)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def resolved(self, incident: str) -> None:
        wait_for(
            "the incident to resolve",
            lambda: self.store.get(incident).status.value == "resolved",
            log=self.log,
        )

    def close(self) -> None:
        self.store.close()
        for proc in self.ups:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)  # a test that held it still and failed meanwhile
                except ProcessLookupError:
                    pass
                stop_up(proc)


def incident_of(flow_run: dict) -> str:  # type: ignore[type-arg]
    incident = re.sub(r":.*", "", flow_run["name"])
    assert re.fullmatch(r"INC-\d+", incident), flow_run["name"]
    return incident
