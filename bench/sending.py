"""What the benchmarks send to the receiver (Alertmanager webhooks), and waiting for a process to answer."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx


def wait_http(url: str, timeout: float = 300) -> None:
    """Wait for ``url`` to answer 200: a hang guard (a loaded machine starts a server in minutes); the
    benchmarks time what comes after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wait_launching(url: str, timeout: float = 300) -> None:
    """Wait until the receiver at ``url`` says a launch loop holds the lease (``/healthz``): its launch
    threads are warm by then, so a run's figures are the receiver's, not its start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json().get("launching"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}: no launch loop took the lease")


def alert(
    name: str, fingerprint: str, annotations: dict[str, str] | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "instance": fingerprint, **labels},
        "annotations": annotations or {},
        "startsAt": "2026-11-27T06:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def batch(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"version": "4", "status": "firing", "receiver": "warroom", "groupKey": "{}:{}", "alerts": alerts}
    ).encode()
