"""The public status page under an outage's crowd: how long the page takes to build from a ledger holding
90 days of public incidents, and what readers wait for it over HTTP with the page cached (the default 5 s)
and built for every reader (0 s). Loopback only.

Run: python bench/status_page.py [--incidents 1000] [--components 20] [--readers 20] [--requests 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from warroom.incident import Severity
from warroom.ledger import Store, now
from warroom.schema import status_posts
from warroom.settings import Settings
from warroom.status.html import render_atom, render_html
from warroom.status.model import StatusSettings
from warroom.status.page import build_page, page_json
from warroom.status.web import status_app

STATES = ("investigating", "identified", "monitoring", "resolved")


def fill(store: Store, incidents: int, components: list[str]) -> None:
    rng = random.Random(7)
    at = now()
    rows = []
    for n in range(incidents):
        number = store.open_or_attach(
            f"bench:{n}", title=f"incident {n}", severity=Severity.P2
        ).incident.number
        started = at - timedelta(days=rng.uniform(0, 89.5))
        hit = rng.sample(components, k=rng.randint(1, 3))
        for step, state in enumerate(STATES):
            posted = started + timedelta(minutes=5 + 15 * step)
            level = "operational" if state == "resolved" else rng.choice(["major_outage", "partial_outage"])
            rows.append(
                {
                    "incident_number": number,
                    "title": f"Incident {n}",
                    "state": state,
                    "text": f"Update {step} of incident {n}: what customers see and what we are doing.",
                    "components": dict.fromkeys(hit, level),
                    "author": "bench",
                    "posted_at": posted,
                    "started_at": started,
                    "next_update_at": None,
                }
            )
    with store.engine.begin() as conn:
        conn.execute(insert(status_posts), rows)


def readers(url: str, count: int, total: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    left = iter(range(total))

    def read() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in left:
                t0 = time.perf_counter()
                response = client.get(url)
                spent = time.perf_counter() - t0
                assert response.status_code == 200
                with lock:
                    latencies.append(spent)

    threads = [threading.Thread(target=read) for _ in range(count)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0


def serve(app: object) -> tuple[str, object]:
    import uvicorn

    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}/", server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--components", type=int, default=20)
    ap.add_argument("--readers", type=int, default=20)
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    components = [f"Component {c}" for c in range(args.components)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'warroom.db'}")
        fill(store, args.incidents, components)
        own = StatusSettings(components={"all": components})
        builds = []
        for _ in range(5):
            t0 = time.perf_counter()
            page = build_page(store, own)
            t1 = time.perf_counter()
            html = render_html(page)
            t2 = time.perf_counter()
            json.dumps(page_json(page))
            render_atom(page)
            builds.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
        print(
            f"{args.incidents} public incidents ({4 * args.incidents} updates) over 90 days, "
            f"{args.components} components: page {len(html) // 1024} KiB"
        )
        for name, column in (("read and compute (ledger, uptime)", 0), ("HTML", 1), ("index.json + Atom", 2)):
            print(f"  {name:<34} median {statistics.median(b[column] for b in builds) * 1000:7.1f} ms")
        for cache in ("5", "0"):
            os.environ["WARROOM_STATUS_CACHE_SECONDS"] = cache
            url, server = serve(status_app(store, Settings()))
            readers(url, 2, 10)  # warm
            got, spent = readers(url, args.readers, args.requests)
            got.sort()
            p50, p99 = (got[min(len(got) - 1, int(q * len(got)))] * 1000 for q in (0.5, 0.99))
            print(
                f"  {args.readers} readers, {args.requests} GETs, cache {cache} s: "
                f"{args.requests / spent:7.0f} req/s, p50 {p50:6.1f} ms, p99 {p99:7.1f} ms"
            )
            server.should_exit = True  # type: ignore[attr-defined]
        store.close()


if __name__ == "__main__":
    main()
