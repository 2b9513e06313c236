"""How soon a gate is open again after `warroom up` is killed with -9 under it and started again.

A run waits at its approval gate; the whole `warroom up` (its Prefect runner and the run's process) is
killed with -9, as a machine that loses power, and started again at once. The keeper takes a paused run
whose process has been silent for the stale window (WARROOM_RUN_STALE_SECONDS, counted from its last
heartbeat, so from the kill) for gone and schedules it again; the runner starts it and it re-enters the
same gate. The promise: the keeper decides within the stale window plus one keeper poll
(WARROOM_KEEPER_POLL_SECONDS) of the kill, or one poll after its own start when the restart took longer.

Printed for each run, from the kill: `warroom up` restarted, and serving again (its keeper running);
`run.restarting` (the keeper's decision) and how far past the bound (max(stale window, serving) plus one
poll) it came; `approval.reentered` (the gate open again, answerable in the UI and the
CLI); and the CPU the restarted `warroom up` and every process it started had used when it served again
(the Prefect server here is the benchmark's own, outside it). Then the medians.

Run: python bench/reentry.py [--runs 3] [--stale 30] [--poll 5]   (Warroom's defaults: 30 s and 5 s)
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path: keep it off, so no module there shadows a library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.processes import tree_cpu_seconds  # noqa: E402
from tests.served import (  # noqa: E402
    Served,
    incident_of,
    kill_flow_run_processes,
    short_prefect_server,
    wait_for,
)
from tests.service import running_service  # noqa: E402
from warroom.events import EventKind  # noqa: E402

READY = "Ctrl-C stops everything started here."  # `warroom up` prints it once its keeper is running


def _event_at(served: Served, incident: str, kind: EventKind) -> datetime:
    def found() -> datetime | None:
        return next((e.at for e in served.store.timeline(incident) if e.kind == kind), None)

    return wait_for(f"{kind.value}", found, timeout=600, log=served.log)  # type: ignore[no-any-return]


def _one(api: str, base: Path, stale: float, poll: float) -> dict[str, float]:
    served = Served(api, base, timeout="30m")
    served.env.update(
        WARROOM_RUN_STALE_SECONDS=str(stale),
        WARROOM_KEEPER_POLL_SECONDS=str(poll),
        WARROOM_RUN_HEARTBEAT_SECONDS=str(min(5.0, stale / 6)),
    )
    up = served.up()
    try:
        with running_service() as (url, _state):
            flow_run_id = served.start(url)
            incident = incident_of(served.paused(flow_run_id))
            killed = datetime.now(UTC)
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
            kill_flow_run_processes(flow_run_id)
            ready_before = served.log.read_text().count(READY)
            restarted = datetime.now(UTC)
            again = served.up()
            wait_for(
                "warroom up to serve again",
                lambda: served.log.read_text().count(READY) > ready_before,
                timeout=300,
                log=served.log,
            )
            serving = datetime.now(UTC)
            start_cpu = tree_cpu_seconds(again.pid)
            restarting = _event_at(served, incident, EventKind.RUN_RESTARTING)
            reentered = _event_at(served, incident, EventKind.APPROVAL_REENTERED)
    finally:
        served.close()
    since = lambda t: (t - killed).total_seconds()  # noqa: E731
    return {
        "restarted": since(restarted),
        "serving": since(serving),
        "restarting": since(restarting),
        "past bound": since(restarting) - (max(stale, since(serving)) + poll),
        "reentered": since(reentered),
        "CPU-s": start_cpu,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stale", type=float, default=30.0, help="WARROOM_RUN_STALE_SECONDS")
    ap.add_argument("--poll", type=float, default=5.0, help="WARROOM_KEEPER_POLL_SECONDS")
    args = ap.parse_args()
    print(f"stale window {args.stale:g} s, keeper poll {args.poll:g} s: bound {args.stale + args.poll:g} s")
    heads = ("run", "restarted", "serving", "restarting", "past bound", "reentered", "CPU-s")
    print("  ".join(f"{h:>10}" for h in heads) + "  (s after the kill; CPU-s to serve again)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="warroom-reentry-") as tmp:
        with short_prefect_server(Path(tmp) / "server") as api:
            for n in range(args.runs):
                started = time.monotonic()
                row = _one(api, Path(tmp) / f"run-{n}", args.stale, args.poll)
                rows.append(row)
                cells = [f"{n + 1:>10}", *(f"{row[h]:>10.1f}" for h in heads[1:])]
                print("  ".join(cells) + f"  ({time.monotonic() - started:.0f} s)", flush=True)
    median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(
        f"median: keeper decided {median['restarting']:.1f} s after the kill "
        f"({median['past bound']:+.1f} s against stale + poll), "
        f"gate open again at {median['reentered']:.1f} s; "
        f"{median['CPU-s']:.1f} CPU-s for `warroom up` to serve again"
    )


if __name__ == "__main__":
    main()
