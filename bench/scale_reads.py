"""What bench/scale.py reads back: the probe each incident's first diagnostic reaches, the benchmark's flow
runs in Prefect, and where one incident's seconds went."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class Probe:
    """Records when each incident's first diagnostic arrived (the path names the fingerprint)."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        lock = threading.Lock()
        first = self.first

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    first.setdefault(self.path.strip("/"), time.time())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def runs_of(api_env: dict[str, str]) -> list[dict[str, Any]]:
    auth = tuple(api_env["PREFECT_API_AUTH_STRING"].split(":", 1))
    found: list[dict[str, Any]] = []
    while True:
        page = httpx.post(
            f"{api_env['PREFECT_API_URL']}/flow_runs/filter",
            json={
                "flow_runs": {"tags": {"all_": ["runbook:bench-scale"]}},
                "limit": 200,
                "offset": len(found),
            },
            auth=auth,  # type: ignore[arg-type]
            timeout=60,
        ).json()
        found += page
        if len(page) < 200:
            return found


def at(value: str | None) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() if value else float("nan")


def way(key: str, t1: float, accepted: float, first: float, env: dict[str, str], ledger: str) -> str:
    """Where an incident's seconds went, each mark after its POST: accepted, queued, created, started, first
    task."""
    from warroom.ledger import Store

    store = Store(ledger)
    try:
        (launch,) = [x for x in store.launches() if x.dedup_key == f"bench-scale:{key}"]
    finally:
        store.close()
    (run,) = [r for r in runs_of(env) if r["id"] == launch.flow_run_id]
    marks = {
        "accepted": accepted,
        "queued": launch.created_at.timestamp() - t1,
        "created in Prefect": at(run["created"]) - t1,
        "started by its lane": at(run["start_time"]) - t1,
        "first task": first - t1,
    }
    return ", ".join(f"{name} +{at:.2f}s" for name, at in marks.items())
