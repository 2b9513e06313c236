"""The receiver's ledger line, alone: CPU per alert to keep its body and route it (open or attach its
incident, queue its launch, look for a lost run), in-process, no HTTP.

The receiver does this for every alert on one thread (SQLite has one writer), so this figure is what caps
its rate. Measured two ways in the same run, so a loaded machine shows as a ratio:
- one transaction per alert, as the receiver does (`Database.unit()`);
- each ledger write its own transaction, as before the unit.
CPU time (`time.process_time`), so another job on the machine slows the figure less than wall time would.

Run: python bench/routing.py [--alerts 3000] [--fingerprints 500] [--postgres URL]
(fingerprints cycle: the first N alerts open incidents and queue launches, the rest attach)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.postgres import fresh_databases  # noqa: E402
from bench.sending import alert  # noqa: E402
from warroom.incident import Severity  # noqa: E402
from warroom.intake.formats import FORMATS  # noqa: E402
from warroom.intake.router import Router  # noqa: E402
from warroom.ledger import Store  # noqa: E402
from warroom.ledger.intake import PayloadState  # noqa: E402
from warroom.runbook import catalogue_of  # noqa: E402
from warroom.settings import Settings  # noqa: E402

RUNBOOK = """\
name: bench-routing
description: routing target (never launched here)
match: {alertname: BenchRouting}
diagnostics:
  - id: health
    use: http.check
    with: {url: "http://127.0.0.1:9/healthz", retries: 0}
"""


def bodies(count: int, fingerprints: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "version": "4",
                "status": "firing",
                "receiver": "warroom",
                "groupKey": "bench",
                "groupLabels": {},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://127.0.0.1:9093",
                "alerts": [alert("BenchRouting", f"route-{n % fingerprints:04d}")],
            }
        ).encode()
        for n in range(count)
    ]


def run(url: str, home: Path, raw: list[bytes], unit: bool) -> float:
    """Milliseconds of CPU per alert over the second half of ``raw`` (the first half warms the caches
    and, with fingerprints cycling, opens the incidents)."""
    settings = Settings(home=home, runbooks_dir=home / "runbooks")
    store = Store(url)
    catalogue = catalogue_of(settings.runbooks_dir)
    router = Router(store, lambda: catalogue, Severity.P3)
    receive = FORMATS["alertmanager"].receive

    def one(body: bytes) -> None:
        parsed = receive(json.loads(body), settings)
        kept: Callable[[], AbstractContextManager[None]] = store.unit if unit else nullcontext
        with kept():
            payload = store.save_payload(
                "alertmanager",
                body,
                remote="127.0.0.1",
                content_type="application/json",
                state=PayloadState.ACCEPTED,
                alerts=len(parsed.alerts),
            )
            for a in parsed.alerts:
                a.payload_id = payload
            router.route(parsed.alerts)

    half = len(raw) // 2
    for body in raw[:half]:
        one(body)
    started = time.process_time()
    for body in raw[half:]:
        one(body)
    spent = time.process_time() - started
    store.close()
    return spent / max(1, len(raw) - half) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--fingerprints", type=int, default=500)
    ap.add_argument("--postgres", help="a PostgreSQL URL: each way on a fresh database there")
    args = ap.parse_args()
    raw = bodies(args.alerts, args.fingerprints)
    figures: dict[bool, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for unit in (True, False):
            home = Path(tmp) / ("unit" if unit else "apart")
            (home / "runbooks").mkdir(parents=True)
            (home / "runbooks" / "bench-routing.yaml").write_text(RUNBOOK)
            if args.postgres:
                [url] = fresh_databases(args.postgres, "routing")
            else:
                url = f"sqlite:///{home / 'ledger.db'}"
            figures[unit] = run(url, home, raw, unit)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"the receiver's ledger line on {backend}, "
        f"{args.alerts} alerts over {args.fingerprints} fingerprints:"
    )
    print(f"  one transaction per alert (the receiver): {figures[True]:.2f} ms of CPU per alert")
    print(f"  each write its own transaction:           {figures[False]:.2f} ms of CPU per alert")
    print(f"  ratio: {figures[False] / figures[True]:.2f}x")


if __name__ == "__main__":
    main()
