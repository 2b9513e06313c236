"""How a function becomes a runbook step: one decorator names it once, makes its Prefect task (named for
the step) and registers it, with its dry run for a mitigation, in the step registry (``warroom/steps.py``).

    @step("aws.ecs_scale", StepKind.MITIGATION, dry_run=ecs_scale_dry_run)
    def ecs_scale(params: EcsScaleParams) -> AwsChange:
        \"\"\"Set the service's desired count ... (what it does to production).\"\"\"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Task, task

from warroom.steps import StepKind, register_task

R = TypeVar("R")


def step(
    name: str, kind: StepKind, *, dry_run: Callable[..., Any] | None = None
) -> Callable[[Callable[..., R]], Task[..., R]]:
    """The step ``name``: a Prefect task of that name, registered with its params and result models (read
    from the signature) and, for a mitigation, its dry run."""

    def wrap(fn: Callable[..., R]) -> Task[..., R]:
        made: Task[..., R] = task(name=name)(fn)
        register_task(name, kind, made, dry_run=dry_run)
        return made

    return wrap
