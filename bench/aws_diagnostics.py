"""ECS bad-deploy diagnostics against moto in server mode: wall time and API calls.

The scene (tests/aws_scene.py): an ECS service just moved to a new task definition (a new image and one
more environment variable), its 5xx metric at 20 for 14 minutes against 1 before, its CloudWatch alarm in
ALARM. The three diagnostics of runbooks/ecs-bad-deploy.yaml (aws.cloudwatch_alarm, aws.ecs_service,
aws.cloudwatch_baseline) run as the flow runs them: in parallel, each with its own boto3 client. moto runs
as a separate process on loopback, on the same 2 cores as the client; the figures are the client's view.

Prints per step the API calls and seconds (one at a time), then the three in parallel: median and max wall
time of --repeat runs and the calls they make; and a fresh client's cost, paid once per step.

Run: python bench/aws_diagnostics.py [--repeat 10] [--revisions 2]
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
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from tasks.aws.client import calls_made, client  # noqa: E402
from tasks.aws.cloudwatch import cloudwatch_alarm, cloudwatch_baseline  # noqa: E402
from tasks.aws.ecs import ecs_service  # noqa: E402
from tasks.aws.models import AlarmParams, EcsServiceParams, MetricBaselineParams  # noqa: E402
from tests import aws_scene  # noqa: E402
from tests.moto_server import aws_env, running_moto  # noqa: E402
from warroom.settings import get_settings  # noqa: E402


def steps(scene: aws_scene.EcsScene) -> list[tuple[str, Any, Any]]:
    return [
        ("cloudwatch_alarm", cloudwatch_alarm, AlarmParams(alarm=scene.alarm)),
        ("ecs_service", ecs_service, EcsServiceParams(cluster=scene.cluster, service=scene.service)),
        (
            "cloudwatch_baseline",
            cloudwatch_baseline,
            MetricBaselineParams(
                namespace=scene.namespace, metric=scene.metric, dimensions=scene.dimensions, window="15m"
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--revisions", type=int, default=2, help="task definition revisions in the family")
    args = parser.parse_args()
    with running_moto() as url:
        os.environ.update(aws_env(url))
        get_settings.cache_clear()
        scene = aws_scene.ecs_bad_deploy(revisions=args.revisions)
        work = steps(scene)
        t0 = time.perf_counter()
        client("ecs", None)
        fresh_client = time.perf_counter() - t0
        for _, step, params in work:  # warm: imports and the SDK's service models, as a served run has them
            step(params)
        print(f"ECS service {scene.cluster}/{scene.service}: {args.revisions} revisions, alarm in ALARM")
        print(f"{'step':<20} {'API calls':>9} {'seconds':>8}   (one at a time)")
        for name, step, params in work:
            before, t0 = calls_made(), time.perf_counter()
            result = step(params)
            took = time.perf_counter() - t0
            print(f"{name:<20} {calls_made() - before:>9} {took:>8.3f}   {result.summary[:60]}")
        walls, calls = [], []
        with ThreadPoolExecutor(max_workers=len(work)) as pool:
            for _ in range(args.repeat):
                before, t0 = calls_made(), time.perf_counter()
                for future in [pool.submit(step, params) for _, step, params in work]:
                    future.result()
                walls.append(time.perf_counter() - t0)
                calls.append(calls_made() - before)
    print()
    print(
        f"in parallel, as the flow runs them (median of {args.repeat}): "
        f"{statistics.median(walls):.3f} s wall (min {min(walls):.3f}, max {max(walls):.3f}), "
        f"{calls[0]} API calls"
    )
    print(
        "moto answers DescribeAlarmHistory with a 500, which the SDK retries once (AWS_MAX_ATTEMPTS=2): "
        "most of cloudwatch_alarm's time here"
    )
    print(f"a fresh boto3 client (one per step; service models cached after the first): {fresh_client:.3f} s")


if __name__ == "__main__":
    main()
