"""A warm lane as `warroom up` and `warroom worker` run it, against a real Prefect server: idle, it asks a
read-only question twice a second and makes Prefect's writing poll only every READY_POLL_SECONDS; a run
scheduled on its queue is still taken within a poll; the normal lane works on WARROOM_LANE_WORKING_RUNS runs
at once, a run waiting for a person gives its slot back, and the lane steps aside while an urgent run
starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.input import RunInput

from deployments.distributed import ensure_pool
from deployments.lanes import URGENT_QUEUE, ensure_lanes
from deployments.warm_worker import POOL_TYPE, READY_POLL_SECONDS
from flows.pause import ask_once
from flows.slots import step_aside
from tests.conftest import REPO
from tests.net import post_retrying
from tests.patience import HANG
from tests.served import wait_for


@flow(name="warm-lane-noop")
def noop() -> str:
    return "ran"


class _Word(RunInput):
    word: str


@flow(name="warm-lane-asks")
def asks() -> str:
    """Waits for a person (as a gate does) up to ten minutes."""
    return str(ask_once("warm-lane-asks", _Word, "a word, please", wait_seconds=600, poll=0.2))


@flow(name="warm-lane-works")
def works(until: str) -> str:
    """Works (holds its slot) until the file ``until`` exists."""
    deadline = time.monotonic() + HANG
    while not Path(until).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return "worked"


@flow(name="warm-lane-steps")
def steps(beats: str, until: str) -> str:
    """Steps, as a runbook's phases and diagnostics do, each after its boundary, until ``until`` exists: each
    step is a line of ``beats`` (when it went)."""
    deadline = time.monotonic() + HANG
    while not Path(until).exists() and time.monotonic() < deadline:
        step_aside()
        with open(beats, "a") as out:
            out.write(f"{time.time()}\n")
        time.sleep(0.1)
    return "stepped"


def _queue(api: str, pool: str) -> dict[str, Any]:
    found = httpx.get(f"{api}/work_pools/{pool}/queues/{URGENT_QUEUE}", timeout=10)
    found.raise_for_status()
    return found.json()  # type: ignore[no-any-return]


@pytest.fixture
def urgent_lane(prefect_api: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    pool = _new_pool()
    with _lane(pool, tmp_path, "urgent") as (lane, log):
        yield pool, lane, log


def test_an_idle_lane_leaves_its_queue_unwritten_between_ready_polls_and_takes_a_run_at_once(
    prefect_api: str, urgent_lane: tuple[str, subprocess.Popen[bytes], Path]
) -> None:
    pool, lane, log = urgent_lane
    first = wait_for(
        "the lane's first poll", lambda: _queue(prefect_api, pool)["last_polled"], log=log, proc=lane
    )
    assert _queue(prefect_api, pool)["status"] == "READY"

    deployment = noop.to_deployment(name="warm-lane-noop", work_pool_name=pool, work_queue_name=URGENT_QUEUE)
    deployment.entrypoint = "tests/test_warm_worker.py:noop"
    deployment_id = deployment.apply()

    # Ten polls' worth of idle: Prefect's writing poll is not made again before it is due.
    seen = time.monotonic()
    time.sleep(2)
    if time.monotonic() - seen < READY_POLL_SECONDS:
        assert _queue(prefect_api, pool)["last_polled"] == first

    # A run scheduled on the lane's queue: the read-only question finds it and Prefect's poll takes it at
    # once, not when the next writing poll is due.
    created = post_retrying(f"{prefect_api}/deployments/{deployment_id}/create_flow_run", {})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    def state() -> str | None:
        found = httpx.get(f"{prefect_api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
        return found if found in ("COMPLETED", "FAILED", "CRASHED") else None

    assert wait_for("the lane to run it", state, log=log, proc=lane) == "COMPLETED", log.read_text()[-3000:]
    assert _queue(prefect_api, pool)["last_polled"] > first  # taken by Prefect's own poll
    history = httpx.get(f"{prefect_api}/flow_run_states/", params={"flow_run_id": run_id}, timeout=10).json()
    taken = min(_at(s["timestamp"]) for s in history if s["type"] == "PENDING")
    due = _at(first) + timedelta(seconds=READY_POLL_SECONDS)
    if _at(created.json()["created"]) < due - timedelta(seconds=READY_POLL_SECONDS / 2):
        assert taken < due, "the run waited for the next writing poll"


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _new_pool() -> str:
    pool = f"lane-{uuid.uuid4().hex[:8]}"
    assert ensure_pool(pool, POOL_TYPE) == POOL_TYPE
    ensure_lanes(pool)
    return pool


@contextmanager
def _lane(
    pool: str, tmp_path: Path, lane: str, cap: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`warroom worker --lane LANE` on ``pool`` (the normal lane working on ``cap`` runs at once); stopped at
    the end, killed when a run still waiting for a person holds its thread."""
    log = tmp_path / "lane.log"
    env = {**os.environ, "WARROOM_RUNNER_POLL_SECONDS": "0.2"}
    if cap is not None:
        env["WARROOM_LANE_WORKING_RUNS"] = str(cap)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--pool", pool, "--lane", lane],
        cwd=REPO,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(HANG)


def _deployed(
    api: str, pool: str, flows: dict[str, Any], urgent: dict[str, Any] | None = None
) -> Callable[..., str]:
    """Each flow deployed on ``pool`` (``urgent`` ones on its urgent queue) under its name, loaded by module
    path (the warm start's own load); returns what creates a run of one by that name."""
    ids = {}
    for queue, named in (("default", flows), (URGENT_QUEUE, urgent or {})):
        for name, fn in named.items():
            deployment = fn.to_deployment(
                name=f"warm-lane-{name}", work_pool_name=pool, work_queue_name=queue
            )
            deployment.entrypoint = f"tests.test_warm_worker.{fn.fn.__name__}"
            ids[name] = deployment.apply()

    def create(name: str, **parameters: str) -> str:
        made = post_retrying(f"{api}/deployments/{ids[name]}/create_flow_run", {"parameters": parameters})
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    return create


def _state(api: str, run_id: str) -> str:
    return str(httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"])


def test_the_normal_lane_works_on_its_cap_of_runs_and_a_run_waiting_for_a_person_gives_its_slot_back(
    prefect_api: str, tmp_path: Path
) -> None:
    pool = _new_pool()
    create = _deployed(prefect_api, pool, {"asks": asks, "works": works, "noop": noop})

    with _lane(pool, tmp_path, "normal", cap=1) as (_proc, log):
        waiting = create("asks")
        wait_for(
            "the first run to wait for a person", lambda: _state(prefect_api, waiting) == "PAUSED", log=log
        )
        # Its slot is free while it waits: the lane takes the next run.
        done = tmp_path / "done"
        working = create("works", until=str(done))
        wait_for(
            "a run to work beside the waiting one",
            lambda: _state(prefect_api, working) == "RUNNING",
            timeout=60,
            log=log,
        )
        # One slot, taken: a third run stays SCHEDULED (for another worker to take) for many polls, and
        # past the writing poll that keeps the queue ready.
        queued = create("noop")
        time.sleep(READY_POLL_SECONDS + 1)
        assert _state(prefect_api, queued) == "SCHEDULED", log.read_text()[-3000:]
        done.touch()
        wait_for(
            "the queued run once the slot is free",
            lambda: _state(prefect_api, queued) == "COMPLETED",
            log=log,
        )
        assert _state(prefect_api, working) == "COMPLETED"
        # The waiting run answered: it works again at once, whatever the cap.
        resumed = post_retrying(f"{prefect_api}/flow_runs/{waiting}/resume", {"run_input": {"word": "go"}})
        assert resumed.status_code in (200, 201) and resumed.json()["status"] == "ACCEPT", resumed.text
        wait_for("the answered run to finish", lambda: _state(prefect_api, waiting) == "COMPLETED", log=log)


def test_a_lane_capped_above_what_one_poll_returns_still_takes_runs(prefect_api: str, tmp_path: Path) -> None:
    """A cap of 1000 asked Prefect's poll for 1000 runs, past its largest page: every poll was refused and
    the normal lane took nothing."""
    pool = _new_pool()
    run = _deployed(prefect_api, pool, {"noop": noop})("noop")
    with _lane(pool, tmp_path, "normal", cap=1000) as (lane, log):
        wait_for(
            "the run taken", lambda: _state(prefect_api, run) == "COMPLETED", timeout=120, log=log, proc=lane
        )


def test_the_normal_lane_steps_aside_while_an_urgent_run_starts(prefect_api: str, tmp_path: Path) -> None:
    """Behind 500 P4s, a P1's pickup and start queued behind the P4 runs' requests at the one Prefect server.
    While an urgent run is scheduled the normal lane takes no run and its runs wait at their step boundaries;
    when it is gone they go on. No urgent lane runs here: the urgent run stays scheduled until withdrawn."""
    pool = _new_pool()
    create = _deployed(prefect_api, pool, {"steps": steps, "noop": noop}, urgent={"urgent": noop})

    beats, done = tmp_path / "beats", tmp_path / "done"

    def last_beat() -> float:
        lines = beats.read_text().split() if beats.exists() else []
        return float(lines[-1]) if lines else 0.0

    with _lane(pool, tmp_path, "normal", cap=4) as (lane, log):
        stepping = create("steps", beats=str(beats), until=str(done))
        wait_for("the run to step", lambda: last_beat() > 0, log=log, proc=lane)
        urgent = create("urgent")
        # Its runs stop at a boundary: no step for a while (without stepping aside, one every 0.1 s).
        wait_for(
            "the run to step aside", lambda: time.time() - last_beat() > 2.0, timeout=25, log=log, proc=lane
        )
        queued = create("noop")
        time.sleep(2)
        assert _state(prefect_api, queued) == "SCHEDULED", log.read_text()[-3000:]
        withdrawn = post_retrying(
            f"{prefect_api}/flow_runs/{urgent}/set_state", {"state": {"type": "CANCELLED"}, "force": True}
        )
        assert withdrawn.status_code in (200, 201), withdrawn.text
        gone = time.time()

        def beats_since() -> int:
            return sum(float(line) > gone for line in beats.read_text().split())

        # Held, it would step once per STEP_ASIDE_MOST (5 s); free, ten times a second.
        wait_for("the run to step as before", lambda: beats_since() >= 5, timeout=15, log=log, proc=lane)
        wait_for(
            "the queued run taken", lambda: _state(prefect_api, queued) == "COMPLETED", log=log, proc=lane
        )
        done.touch()
        wait_for("the stepping run to end", lambda: _state(prefect_api, stepping) == "COMPLETED", log=log)
