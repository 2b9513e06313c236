"""Ledger throughput on SQLite: timeline appends, incident opens, and `warroom incidents list` at 10k.

Run: python bench/ledger.py [--events 100000] [--incidents 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from warroom.incident import Severity
from warroom.ledger import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--incidents", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        store = Store(f"sqlite:///{home / 'warroom.db'}")

        t0 = time.perf_counter()
        for n in range(args.incidents):
            store.open_or_attach(
                f"bench:{n}", title=f"bench incident {n}", severity=Severity.P3, service="svc"
            )
        opened = time.perf_counter() - t0

        target = store.open_or_attach("bench:events", title="event sink", severity=Severity.P2).incident
        t0 = time.perf_counter()
        for n in range(args.events):
            store.append(target.number, "note", f"event {n}", actor="bench", data={"n": n})
        appended = time.perf_counter() - t0

        t0 = time.perf_counter()
        events = store.timeline(target.number)
        read = time.perf_counter() - t0
        assert len(events) == args.events + 1
        store.close()

        env = {**os.environ, "WARROOM_HOME": str(home)}
        env.pop("WARROOM_DATABASE_URL", None)
        cli = [sys.executable, "-m", "cli", "incidents", "list", "--limit", "0"]
        timings = {}
        for label, extra in (("table", []), ("--json", ["--json"])):
            t0 = time.perf_counter()
            done = subprocess.run(cli + extra, env=env, capture_output=True, check=True)
            timings[label] = time.perf_counter() - t0
            assert len(done.stdout) > 0

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import cli.main, cli.incidents"], env=env, check=True)
        startup = time.perf_counter() - t0

    print(
        f"open_or_attach: {args.incidents} incidents in {opened:.2f}s"
        f" = {args.incidents / opened:,.0f} incidents/s"
    )
    print(f"append:         {args.events} events in {appended:.2f}s = {args.events / appended:,.0f} events/s")
    print(f"timeline read:  {args.events} events in {read:.2f}s")
    for label, seconds in timings.items():
        print(f"warroom incidents list {label} over {args.incidents + 1} incidents: {seconds:.2f}s")
    print(f"(of which process start and imports: {startup:.2f}s)")


if __name__ == "__main__":
    main()
