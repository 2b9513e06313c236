"""`warroom report` over a large ledger: a quarter's worth of incidents many times over, with their timeline
events, gates and action items, on SQLite (and PostgreSQL with --database-url). Prints the wall time of the
figures and warnings for 90 days beside the 90 before, and the Python memory they take at their peak, at two
sizes: memory that does not grow with the number of incidents is the point (every figure is aggregated by the
database, never by fetching rows).

Run: python bench/report.py [--incidents 100000] [--events 2000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

from warroom.events import EventKind
from warroom.ledger import Store, now
from warroom.reports.figures import figures
from warroom.reports.period import Period
from warroom.reports.warnings import warnings
from warroom.schema import action_items, incidents, timeline_events

KINDS = [EventKind.NOTE, EventKind.DIAGNOSTIC_RESULT, EventKind.MITIGATION_APPLIED, EventKind.UPDATE_POSTED]
CHUNK = 20_000


def fill(store: Store, count: int, events: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    end = now()
    with store.engine.begin() as conn:
        first = int(conn.execute(text("SELECT COALESCE(MAX(number), 0) FROM incidents")).scalar_one()) + 1
    levels = ["P1"] * 5 + ["P2"] * 15 + ["P3"] * 50 + ["P4"] * 30
    rows = []
    for n in range(count):
        detected = end - timedelta(days=rng.uniform(0, 180))
        acked = detected + timedelta(minutes=rng.expovariate(1 / 6))
        resolved = detected + timedelta(minutes=rng.expovariate(1 / 45)) if rng.random() < 0.97 else None
        mitigated = detected + (resolved - detected) * 0.6 if resolved and rng.random() < 0.6 else None
        rows.append(
            {
                "title": f"incident {n}",
                "service": f"svc-{rng.randrange(40)}",
                "severity": rng.choice(levels),
                "status": "closed"
                if resolved and rng.random() < 0.5
                else ("resolved" if resolved else "detected"),
                "dedup_key": f"alert-{rng.randrange(count // 3 + 1)}",
                "open_key": None,
                "runbook": rng.choice([None, "k8s-bad-deploy", "disk-full", "ecs-bad-deploy"]),
                "roles": {"commander": f"person-{rng.randrange(25)}"},
                "detected_at": detected,
                "acknowledged_at": acked,
                "mitigated_at": mitigated,
                "resolved_at": resolved,
                "closed_at": resolved + timedelta(days=2) if resolved and rng.random() < 0.5 else None,
            }
        )
        if len(rows) == CHUNK:
            _put(store, incidents, rows)
    _put(store, incidents, rows)
    for _ in range(events):
        number = first + rng.randrange(count)
        rows.append(
            {
                "incident_number": number,
                "at": end - timedelta(days=rng.uniform(0, 180)),
                "kind": rng.choice(KINDS).value,
                "actor": "bench",
                "text": "event",
                "data": {},
                "event_key": None,
            }
        )
        if len(rows) == CHUNK:
            _put(store, timeline_events, rows)
    _put(store, timeline_events, rows)
    for _ in range(count // 2):
        rows.append(
            {
                "incident_number": first + rng.randrange(count),
                "title": "follow up",
                "owner": "sam",
                "due": (end - timedelta(days=rng.uniform(-30, 120))).date(),
                "status": rng.choice(["open", "done", "done"]),
                "created_at": end - timedelta(days=rng.uniform(0, 180)),
            }
        )
        if len(rows) == CHUNK:
            _put(store, action_items, rows)
    _put(store, action_items, rows)


def _put(store: Store, table: object, rows: list[dict[str, object]]) -> None:
    if rows:
        with store.engine.begin() as conn:
            conn.execute(insert(table), rows)  # type: ignore[call-overload]
        rows.clear()


def measure(store: Store) -> tuple[float, float, int]:
    at = now()
    period = Period(at - timedelta(days=90), at)
    tracemalloc.start()
    t0 = time.perf_counter()
    this = figures(store, period, at=at)
    figures(store, period.previous(), at=at)
    raised = warnings(store, period, at)
    spent = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert this.incidents > 0 and raised is not None
    return spent, peak / 2**20, this.incidents


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database_url or f"sqlite:///{Path(tmp) / 'warroom.db'}")
        print(f"ledger: {store.dialect}")
        # A tenth first, then the rest: the same report at two sizes.
        steps = [
            (args.incidents // 10, args.events // 10),
            (args.incidents - args.incidents // 10, args.events - args.events // 10),
        ]
        total = (0, 0)
        for incidents_now, events_now in steps:
            t0 = time.perf_counter()
            fill(store, incidents_now, events_now, seed=total[0] + 11)
            total = (total[0] + incidents_now, total[1] + events_now)
            filled = time.perf_counter() - t0
            spent, peak, counted = measure(store)
            print(
                f"{total[0]:>7} incidents, {total[1]:>8} events (filled in {filled:5.1f} s): "
                f"report over 90 days ({counted} incidents) beside the 90 before in {spent:5.2f} s, "
                f"peak Python memory {peak:5.1f} MiB"
            )
        store.close()


if __name__ == "__main__":
    main()
