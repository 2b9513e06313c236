"""Alerts launch runbook deployments: a storm of one alert gives one incident and one flow run; Prefect being
down loses nothing."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.serve import build_deployments, running_receiver
from deployments.template import ProcessTemplate, process_template
from tests import payloads
from tests.flow_helpers import CAPACITY_RUNBOOK, FlowThread, write_runbook
from tests.net import free_port
from tests.patience import HANG
from warroom.incident import Severity
from warroom.intake.launcher import LaunchLoop
from warroom.intake.router import Router
from warroom.ledger import Store
from warroom.runbook import catalogue_of, load_catalogue
from warroom.settings import Settings, get_settings

TOKEN = "launch-test-token"


@pytest.fixture
def receiver(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Store]]:
    runbook = CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "60s").replace(" ESCALATE", "")
    with _receiver(tmp_path, monkeypatch, runbook) as served:
        yield served


@contextmanager
def _receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runbook: str) -> Iterator[tuple[str, Store]]:
    write_runbook(tmp_path / "runbooks", runbook)
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "runbooks"))
    monkeypatch.setenv("WARROOM_STEP_MODULES", '["tests.plugin_steps"]')
    monkeypatch.setenv("WARROOM_INTAKE_TOKENS", json.dumps({"*": TOKEN}))
    monkeypatch.setenv("WARROOM_RECEIVER_PORT", str(free_port()))
    monkeypatch.setenv("WARROOM_INTAKE_LAUNCH_POLL_SECONDS", "0.2")
    get_settings.cache_clear()
    settings = get_settings()
    # The deployment exists in Prefect (as `warroom up` registers it); nothing executes its runs here.
    for deployment in build_deployments(load_catalogue([settings.runbooks_dir])):
        deployment.apply()
    with running_receiver(settings) as intake:
        yield f"http://{settings.receiver_host}:{settings.receiver_port}", intake.store


def flow_runs_of(deployment_name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name]))
        )


def test_the_same_alert_fifty_times_at_once_gives_one_incident_and_one_flow_run(
    receiver: tuple[str, Store],
) -> None:
    url, store = receiver
    fingerprint = uuid.uuid4().hex[:16]
    body = {
        "title": "ServiceUnhealthy",
        "annotations": {"service_url": "http://127.0.0.1:9"},
        "fingerprint": fingerprint,
        "starts_at": "2026-11-27T06:00:00Z",
    }
    before = len(flow_runs_of("svc-capacity"))
    barrier = threading.Barrier(50)
    answers: list[int] = []

    def send() -> None:
        barrier.wait()
        resp = httpx.post(
            f"{url}/alerts/generic", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        answers.append(resp.status_code)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [202] * 50
    incident = store.latest_for_key(f"svc-capacity:{fingerprint}")
    assert incident is not None and store.count_incidents() == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and store.launches(incident.number)[0].state != "launched":
        time.sleep(0.2)
    [launch] = store.launches(incident.number)
    assert launch.state == "launched"
    time.sleep(1)  # any second launch would have happened by now
    assert len(flow_runs_of("svc-capacity")) == before + 1
    kinds = [e.kind for e in store.timeline(incident.number)]
    assert kinds.count("alert.firing") == 50 and kinds.count("runbook.launched") == 1


class _Down:
    """A Prefect API that is down, then comes back."""

    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.calls: list[str] = []

    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        self.calls.append(idempotency_key)
        if len(self.calls) <= self.fail_times:
            raise httpx.ConnectError("All connection attempts failed")
        return f"run-{len(self.calls)}"


def test_launch_failures_are_retried_from_the_ledger_and_never_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import REPO
    from warroom.intake.receiver import create_app

    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    monkeypatch.setenv("WARROOM_INTAKE_TOKENS", json.dumps({"*": TOKEN}))
    get_settings.cache_clear()
    settings = get_settings()
    store = Store.from_settings(settings)
    launcher = _Down(fail_times=2)
    loop = LaunchLoop(store, launcher, poll_seconds=0.05, max_backoff=0.1)
    router = Router(store, partial(catalogue_of, settings.runbooks_dir), settings.default_severity, loop.wake)
    with TestClient(create_app(settings, store, router)) as client:
        resp = client.post(
            "/alerts/alertmanager", json=payloads.alertmanager(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert resp.status_code == 202
    incident = resp.json()["results"][0]["incident"]
    # The receiver answered before launching; the loop now works through the ledger, as after a restart.
    loop.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and store.launches()[0].state != "launched":
        time.sleep(0.05)
    loop.stop()
    [launch] = store.launches()
    assert launch.state == "launched" and launch.attempts == 3 and launch.flow_run_id == "run-3"
    assert len(set(launcher.calls)) == 1  # the same idempotency key every time
    kinds = [e.kind for e in store.timeline(incident)]
    assert kinds.count("runbook.launch_failed") == 2 and kinds.count("runbook.launched") == 1
    store.close()


# Its severity rule reads a param the alert gives: decided once, by the receiver, with the params resolved.
TIERED_RUNBOOK = """\
    name: svc-tiered
    description: A tiered service is unhealthy; look, then hand it to the humans.
    match: {alertname: TierTrouble}
    params:
      service_url: {type: string, from: alert.annotations.service_url}
      tier: {type: string, from: alert.labels.tier, default: bronze}
    severity:
      - {when: "params.tier == 'gold'", level: P1}
      - {level: P4}
    diagnostics:
      - id: health
        use: http.check
        with: {url: "{{ params.service_url }}/healthz", retries: 0}
"""


def test_an_alert_is_decided_once_and_its_run_attaches_by_number_with_the_receivers_level(
    prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _receiver(tmp_path, monkeypatch, TIERED_RUNBOOK) as (url, store):
        body = {
            "title": "TierTrouble",
            "labels": {"tier": "gold"},
            "annotations": {"service_url": "http://127.0.0.1:9"},
            "fingerprint": uuid.uuid4().hex[:16],
        }
        resp = httpx.post(f"{url}/alerts/generic", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 202, resp.text
        number = int(resp.json()["results"][0]["incident"].removeprefix("INC-"))
        assert store.get(number).severity.value == "P1"  # the rule read params.tier at intake
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not flow_runs_of("svc-tiered"):
            time.sleep(0.2)
        [run] = flow_runs_of("svc-tiered")
        assert run.parameters["decided"] == {"incident": number, "level": "P1"}

        # The run made from exactly that launch: it opens nothing, attaches nothing, decides no level.
        made = FlowThread(proven=False, **run.parameters)
        made.start()
        assert made.finish().outcome == "handed_back" and made.error is None
        timeline = store.timeline(number)
        kinds = [e.kind for e in timeline]
        assert kinds[0] == "alert.firing" and kinds.count("alert.firing") == 1  # what opened it
        assert "incident.opened" not in kinds and "incident.attached" not in kinds
        assert "severity.set" not in kinds
        [triaged] = [e for e in timeline if e.kind == "triage"]
        assert triaged.data == {"level": "P1", "decided": "P1", "by": "receiver"}
        assert [e.data["meaning"] for e in timeline if e.kind == "severity.policy"] == [
            "critical: full outage, major feature down, security breach, data loss, all customers"
        ]
        assert store.count_incidents() == 1

        # A launch naming another alert's incident is refused, and that incident hears nothing of it.
        other = store.open_or_attach(
            "svc-tiered:someone-else", title="other", severity=Severity.P3, runbook="svc-tiered"
        ).incident
        before = store.timeline(other.number)
        forged = FlowThread(
            proven=False, **{**run.parameters, "decided": {"incident": other.number, "level": "P4"}}
        )
        forged.start()
        forged.finish()
        assert isinstance(forged.error, ValueError) and "not this alert's incident" in str(forged.error)
        assert store.timeline(other.number) == before


def _tiered_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Store]:
    """Settings serving the tiered runbook to tokened senders, and their ledger."""
    write_runbook(tmp_path / "runbooks", TIERED_RUNBOOK)
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "runbooks"))
    monkeypatch.setenv("WARROOM_INTAKE_TOKENS", json.dumps({"*": TOKEN}))
    get_settings.cache_clear()
    settings = get_settings()
    return settings, Store.from_settings(settings)


class _Clocked:
    """Prefect, as the launch loop sees it: each launch recorded with its level and when it was made."""

    def __init__(self) -> None:
        self.calls: list[tuple[Severity, float]] = []
        self._lock = threading.Lock()

    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        with self._lock:
            self.calls.append((level, time.monotonic()))
            return f"run-{len(self.calls)}"


def test_an_urgent_launch_goes_alone_and_the_less_severe_give_it_a_head_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind 500 P4s a P1's creation, pickup and start each queued behind P4 creates at the one Prefect
    server; now it is created alone and the P4s wait its head start. A P1 arriving meanwhile is not held."""
    from fastapi.testclient import TestClient

    from warroom.intake.receiver import create_app

    settings, store = _tiered_ledger(tmp_path, monkeypatch)
    launcher = _Clocked()
    head_start = 3.0
    urgent = frozenset({Severity.P1, Severity.P2})
    loop = LaunchLoop(
        store, launcher, poll_seconds=0.05, parallel=4, urgent=urgent, head_start_seconds=head_start
    )
    router = Router(store, partial(catalogue_of, settings.runbooks_dir), settings.default_severity, loop.wake)

    def alert(tier: str) -> dict[str, Any]:
        return {
            "title": "TierTrouble",
            "labels": {"tier": tier},
            "annotations": {"service_url": "http://127.0.0.1:9"},
            "fingerprint": uuid.uuid4().hex[:16],
        }

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(settings, store, router)) as client:
        for body in [alert("bronze") for _ in range(6)] + [alert("gold")]:
            assert client.post("/alerts/generic", json=body, headers=headers).status_code == 202
        loop.start()
        try:
            deadline = time.monotonic() + HANG
            while not launcher.calls and time.monotonic() < deadline:
                time.sleep(0.01)
            # A second P1 while the P4s wait: launched at once, not after them.
            assert client.post("/alerts/generic", json=alert("gold"), headers=headers).status_code == 202
            while len(launcher.calls) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            loop.stop()
    levels = [level for level, _ in launcher.calls]
    assert levels == [Severity.P1, Severity.P1] + [Severity.P4] * 6, levels
    second_p1, first_p4 = launcher.calls[1][1], launcher.calls[2][1]
    assert first_p4 - second_p1 >= head_start * 0.95
    store.close()


@pytest.mark.parametrize("forked", [False, True], ids=["own-process", "forked-from-template"])
def test_the_launch_loop_process_outlives_an_early_wake_and_comes_back_after_kill_9(
    forked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver wakes its launch process on every queued launch, from the moment it starts: a wake that
    lands while the child is still importing must not end it (SIGUSR1's default action), and a child killed
    outright is started again."""
    import os
    import signal

    from deployments.launch_process import LaunchProcess
    from tests.served import wait_for

    write_runbook(tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "60s"))
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "runbooks"))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")  # nobody answers there
    get_settings.cache_clear()
    stack = ExitStack()
    process = LaunchProcess(restart_seconds=0.1, template=_template(forked, stack))
    process.start()
    try:
        first = wait_for("the launch process", lambda: process.pid)
        for _ in range(20):  # while it imports: a wake is held until its handler is in place
            process.wake()
            time.sleep(0.05)
        holder = Store.from_settings(get_settings())
        wait_for("the launch process to take the launch lease", lambda: holder.lease_holder("launch-loop"))
        assert process.pid == first, "a wake before the handler ended the launch process"
        os.kill(first, signal.SIGKILL)
        wait_for("a new launch process", lambda: process.pid not in (None, first))
        second = process.pid
        assert second is not None
        os.kill(second, 0)  # alive
    finally:
        process.stop()
        stack.close()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)
    holder.close()


@pytest.mark.parametrize("forked", [False, True], ids=["own-process", "forked-from-template"])
def test_the_launch_process_takes_a_storm_of_wakes_and_still_stops_when_told(
    forked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm wakes the launch process once per queued launch. Thousands of wakes back to back must leave
    it launching and stoppable: a wake taken by a signal handler inside another wake's ``Event.set``
    deadlocked it for good (found by bench/intake.py: a launch process outliving its receiver)."""
    import os
    import signal

    from deployments.launch_process import WAKE, LaunchProcess
    from tests.served import wait_for

    write_runbook(tmp_path / "runbooks", CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "60s"))
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "runbooks"))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")  # nobody answers there
    get_settings.cache_clear()
    stack = ExitStack()
    # The one that ends is not replaced while we look.
    process = LaunchProcess(restart_seconds=HANG, template=_template(forked, stack))
    process.start()
    holder = Store.from_settings(get_settings())
    try:
        wait_for("the launch process to take the launch lease", lambda: holder.lease_holder("launch-loop"))
        child = process.pid
        assert child is not None
        for _ in range(20_000):
            os.kill(child, WAKE)
        os.kill(child, signal.SIGTERM)
        wait_for("the launch process to stop on SIGTERM after a storm of wakes", lambda: process.exits)
        assert process.exits == [0]
        assert holder.lease_holder("launch-loop") is None  # it let go of the lease on its way out
    finally:
        process.stop()
        stack.close()
        holder.close()


def _template(forked: bool, stack: ExitStack) -> ProcessTemplate | None:
    """The process template `warroom up` forks the launch loop from (this test's environment), or none."""
    from deployments.launch_process import PRELOAD

    return stack.enter_context(process_template(dict(os.environ), PRELOAD)) if forked else None


class _Warmed(_Clocked):
    """A launcher whose threads must be made ready first: which thread warmed, and when."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.warmed: list[tuple[int, float]] = []
        self.launched_on: set[int] = set()

    def warm(self) -> None:
        with self._lock:
            self.warmed.append((threading.get_ident(), time.monotonic()))
        if self.fail:
            raise RuntimeError("cannot warm")

    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        self.launched_on.add(threading.get_ident())
        return super().launch(runbook, parameters, idempotency_key, level)


@pytest.mark.parametrize("fail", [False, True], ids=["warm", "warm-up-fails"])
def test_each_launch_thread_is_warmed_once_before_the_first_launch(
    fail: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold launch thread (Prefect's client modules, its client) cost a storm's first second ~1 s of CPU:
    it is paid when the loop starts, in every thread, before the lease is taken. A failed warm-up launches
    cold."""
    from fastapi.testclient import TestClient

    from warroom.intake.receiver import create_app

    settings, store = _tiered_ledger(tmp_path, monkeypatch)
    launcher = _Warmed(fail=fail)
    loop = LaunchLoop(store, launcher, poll_seconds=0.05, parallel=3, warm=launcher.warm)
    router = Router(store, partial(catalogue_of, settings.runbooks_dir), settings.default_severity, loop.wake)
    with TestClient(create_app(settings, store, router)) as client:
        for n in range(9):
            body = {"title": "TierTrouble", "labels": {"n": str(n)}, "fingerprint": uuid.uuid4().hex[:16]}
            body["annotations"] = {"service_url": "http://127.0.0.1:9"}
            headers = {"Authorization": f"Bearer {TOKEN}"}
            assert client.post("/alerts/generic", json=body, headers=headers).status_code == 202
        loop.start()
        try:
            deadline = time.monotonic() + HANG
            while len(launcher.calls) < 9 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            loop.stop()
    assert len(launcher.calls) == 9
    warmed_threads = [thread for thread, _ in launcher.warmed]
    assert len(warmed_threads) == 3 and len(set(warmed_threads)) == 3
    assert launcher.launched_on <= set(warmed_threads)
    assert max(at for _, at in launcher.warmed) < min(at for _, at in launcher.calls)
    store.close()
