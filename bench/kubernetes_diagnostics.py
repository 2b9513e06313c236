"""Kubernetes diagnostics of the bad-deploy runbook on a big Deployment: wall time and API calls.

The scene: a Deployment with 10 revisions whose last one crash-loops, its rolling update stalled with
200 pods up (120 of revision 9, 80 of revision 10), served by the loopback test API server
(sandbox/kube/) over TLS. The five diagnostics of runbooks/k8s-bad-deploy.yaml (rollout history,
pod health, events, logs, baseline) run in parallel as the flow runs them, through the official client.

Prints, per step and together: API calls, bytes received, wall time (median of --repeat runs), and the
same at 40 pods, to show the calls do not grow with the pod count (lists with selectors, never pod by
pod). The API server's own time is shown apart: here it shares the 2 cores with the client.

Run: python bench/kubernetes_diagnostics.py [--repeat 5] [--pods 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# this file is named kubernetes.py: keep its folder off the path so `import kubernetes` finds the client
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from sandbox.kube import FakeCluster, rollout_scene, running_cluster  # noqa: E402
from tasks.kubernetes.diagnostics import baseline, events, logs, pod_health, rollout_history  # noqa: E402
from tasks.kubernetes.models import (  # noqa: E402
    DeploymentRef,
    EventsParams,
    LogsParams,
    PodHealthParams,
    RolloutHistoryParams,
)
from warroom.settings import get_settings  # noqa: E402

REF = {"namespace": "prod", "deployment": "web"}
STEPS: list[tuple[str, Any, Any]] = [
    ("rollout_history", rollout_history, RolloutHistoryParams(**REF)),
    ("pod_health", pod_health, PodHealthParams(**REF)),
    ("events", events, EventsParams(since="30m", **REF)),
    ("logs", logs, LogsParams(pods=3, **REF)),
    ("baseline", baseline, DeploymentRef(**REF)),
]


def replicas_for(pods: int) -> int:
    """Desired replicas whose stalled rolling update (25%/25%) keeps ``pods`` pods up: 0.75d + 0.5d."""
    return round(pods / 1.25)


def measure(pods: int, repeat: int) -> dict[str, Any]:
    cluster = FakeCluster()
    rollout_scene(cluster, state="crashloop", replicas=replicas_for(pods), revisions=10, minutes_ago=7)
    with running_cluster(cluster) as running:
        os.environ["KUBECONFIG"] = str(running.kubeconfig)
        get_settings.cache_clear()
        listed = len(cluster.pods_of("web"))
        # warm: connection pool and client objects, as a served runbook has them after its first run
        pod_health(PodHealthParams(**REF))
        per_step: dict[str, dict[str, float]] = {}
        for name, step, params in STEPS:
            before, size = len(cluster.requests), cluster.response_bytes
            t0 = time.perf_counter()
            step(params)
            per_step[name] = {
                "calls": len(cluster.requests) - before,
                "bytes": cluster.response_bytes - size,
                "seconds": time.perf_counter() - t0,
            }
        walls, calls, server = [], [], []
        with ThreadPoolExecutor(max_workers=len(STEPS)) as pool:
            for _ in range(repeat):
                before, served = len(cluster.requests), cluster.server_seconds
                t0 = time.perf_counter()
                for future in [pool.submit(step, params) for _, step, params in STEPS]:
                    future.result()
                walls.append(time.perf_counter() - t0)
                calls.append(len(cluster.requests) - before)
                server.append(cluster.server_seconds - served)
        revisions = len(cluster.replica_sets_of("web"))
    return {
        "pods": listed,
        "revisions": revisions,
        "steps": per_step,
        "wall": statistics.median(walls),
        "wall_max": max(walls),
        "calls": calls[0],
        "server": statistics.median(server),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pods", type=int, default=200)
    args = parser.parse_args()
    big = measure(args.pods, args.repeat)
    small = measure(40, args.repeat)
    print(
        f"Deployment web: {big['pods']} pods, {big['revisions']} ReplicaSets (revisions), "
        "the last one crash-looping"
    )
    print(f"{'step':<16} {'API calls':>9} {'bytes':>10} {'seconds':>8}   (one at a time)")
    for name, s in big["steps"].items():
        print(f"{name:<16} {s['calls']:>9.0f} {s['bytes']:>10,.0f} {s['seconds']:>8.3f}")
    total_calls = sum(s["calls"] for s in big["steps"].values())
    total_bytes = sum(s["bytes"] for s in big["steps"].values())
    print(f"{'all five':<16} {total_calls:>9.0f} {total_bytes:>10,.0f}")
    print()
    print(
        f"in parallel, as the flow runs them (median of {args.repeat}): "
        f"{big['wall']:.3f} s wall (max {big['wall_max']:.3f} s), {big['calls']} API calls, "
        f"of which the test API server answering: {big['server']:.3f} s"
    )
    print(
        f"same at {small['pods']} pods: {small['wall']:.3f} s wall, {small['calls']} API calls  ->  "
        f"pods x{big['pods'] / small['pods']:.1f}: calls x{big['calls'] / small['calls']:.2f}, "
        f"wall x{big['wall'] / small['wall']:.2f}"
    )
    print(
        f"a pod-by-pod reader would make at least {big['pods'] * 2 + 2} calls here "
        "(one get and one event list per pod)"
    )


if __name__ == "__main__":
    main()
