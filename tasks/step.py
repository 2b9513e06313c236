"""How a function becomes a runbook step: one decorator names it once and registers it in the step registry
(``warroom/steps.py``); the flows run it as a Prefect task named for the step (``flows/run_steps.py``).

    @step("aws.ecs_scale", StepKind.MITIGATION)
    def ecs_scale(params: EcsScaleParams, dry_run: bool = False) -> AwsChange:
        \"\"\"Set the service's desired count ... (what it does to production).\"\"\"

A mitigation that takes ``dry_run`` is its own dry run: called with ``dry_run=True`` it says what it would
change and changes nothing, and the approval gate shows that plan. The decorated function stays a plain
function (tests, benches and game days call it directly), so importing a step imports no Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from warroom.steps import StepKind, register_function

F = TypeVar("F", bound=Callable[..., object])


def step(name: str, kind: StepKind) -> Callable[[F], F]:
    """The step ``name``, registered with its params and result models (read from the signature) and, for a
    mitigation with a ``dry_run`` parameter, its dry run."""

    def wrap(fn: F) -> F:
        register_function(name, kind, fn)
        return fn

    return wrap
