"""AWS on loopback: moto in server mode as its own process, reached through AWS_ENDPOINT_URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.net import free_port, stop
from tests.patience import HANG

REGION = "eu-west-1"
ECS_RUNNING = 2


@contextmanager
def running_moto() -> Iterator[str]:
    port = free_port()
    # moto does not run ECS tasks: a service reports this many running (rollout COMPLETED when it covers the
    # desired count) from its creation on, and its deployments never change after (see tests/aws_scene.py).
    env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": str(ECS_RUNNING)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG
        while True:
            assert proc.poll() is None, "moto_server exited"
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"moto_server did not start within {HANG} s"
                time.sleep(0.2)
        yield url
    finally:
        stop(proc)


def aws_env(endpoint: str) -> dict[str, str]:
    """What an AWS SDK needs to talk to moto: fake credentials, a region, few retries."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
