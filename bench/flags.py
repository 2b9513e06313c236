"""Feature flag off on a real Unleash server: how long `flags.disable` takes, and how long until an SDK's
view (Unleash's client API with a client token) sees the flag off.

Needs Node and tests/unleash installed (scripts/install.sh --dev) and a PostgreSQL for Unleash:
WARROOM_TEST_DATABASE_URL, or a throwaway cluster this script starts with scripts/pg-cluster.sh.

Run: python bench/flags.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.postgres import throwaway_cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with ExitStack() as stack:
        if not os.environ.get("WARROOM_TEST_DATABASE_URL"):
            os.environ["WARROOM_TEST_DATABASE_URL"] = stack.enter_context(throwaway_cluster())
        _measure(args.runs)


def _measure(runs: int) -> None:
    from tasks.flags import steps
    from tasks.flags.models import FlagParams
    from tests.unleash_server import ADMIN_TOKEN, running_unleash, unavailable
    from warroom.settings import get_settings

    why = unavailable()
    if why:
        sys.exit(f"cannot run: {why}")
    step_times: list[float] = []
    seen_off: list[float] = []
    with running_unleash() as unleash:
        os.environ["WARROOM_UNLEASH_URL"] = unleash.url
        os.environ["WARROOM_UNLEASH_TOKEN"] = ADMIN_TOKEN
        get_settings.cache_clear()
        for i in range(runs):
            name = f"bench-flag-{i}"
            unleash.feature(name)
            assert unleash.evaluated_on(name)
            started = time.perf_counter()
            done = steps.disable(FlagParams(provider="unleash", flag=name))
            step_times.append(time.perf_counter() - started)
            assert done.applied, done.summary
            while unleash.evaluated_on(name):
                time.sleep(0.005)
            seen_off.append(time.perf_counter() - started)
    print(f"flags.disable on Unleash over {runs} flags (read, switch, read back):")
    for label, values in (("step", step_times), ("until the client API sees it off", seen_off)):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"  {label:<34} median {statistics.median(values) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
