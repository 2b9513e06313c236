"""A warm lane as `warroom up` and `warroom worker` run it, against a real Prefect server: idle, it asks a
read-only question twice a second and makes Prefect's writing poll only every READY_POLL_SECONDS; a run
scheduled on its queue is still taken within a poll."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow

from deployments.distributed import ensure_pool
from deployments.lanes import URGENT_QUEUE, ensure_lanes
from deployments.warm_worker import POOL_TYPE, READY_POLL_SECONDS
from tests.conftest import REPO
from tests.patience import HANG
from tests.served import wait_for


@flow(name="warm-lane-noop")
def noop() -> str:
    return "ran"


def _queue(api: str, pool: str) -> dict[str, Any]:
    found = httpx.get(f"{api}/work_pools/{pool}/queues/{URGENT_QUEUE}", timeout=10)
    found.raise_for_status()
    return found.json()  # type: ignore[no-any-return]


@pytest.fixture
def urgent_lane(prefect_api: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    pool = f"lane-{uuid.uuid4().hex[:8]}"
    assert ensure_pool(pool, POOL_TYPE) == POOL_TYPE
    ensure_lanes(pool)
    log = tmp_path / "lane.log"
    env = {**os.environ, "WARROOM_RUNNER_POLL_SECONDS": "0.2"}
    lane = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--pool", pool, "--lane", "urgent"],
        cwd=REPO,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield pool, lane, log
    finally:
        lane.terminate()
        lane.wait(HANG)


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
    created = httpx.post(f"{prefect_api}/deployments/{deployment_id}/create_flow_run", json={}, timeout=10)
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
