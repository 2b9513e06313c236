"""Loopback networking for tests and benchmarks: free ports, the servers on them stopped, and a POST to a
Prefect server retried while it answers 5xx."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[Any], grace: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds: a loaded machine may take long
    to shut a server down, and a test's teardown must not fail on that."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def post_retrying(
    url: str, body: Any, auth: tuple[str, str] | None = None, tries: int = 10
) -> httpx.Response:
    """A POST, made again while the server answers 5xx, as Prefect's own client retries: a test's Prefect
    server on SQLite answers 503 while another writer holds its database on a loaded machine."""
    for _ in range(tries):
        response = httpx.post(url, json=body, auth=auth, timeout=30)
        if response.status_code < 500:
            break
        time.sleep(1)
    return response
