"""Running a set of steps at once: each call's `when:` decided, params rendered and checked, tasks
submitted together, and each one's typed result or the reason it has none. Investigate and verify use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any

from prefect import Task, task
from prefect.futures import PrefectFuture, wait
from prefect.states import Failed
from pydantic import ValidationError

from flows.response import Response, short_error
from flows.slots import step_aside
from warroom.expressions import ExpressionError, evaluate_condition, render_value
from warroom.redact import redact_text
from warroom.runbook import StepCall
from warroom.steps import StepResult, StepSpec, get_step


@dataclass
class StepRun:
    call: StepCall
    label: str
    future: PrefectFuture[Any] | None = None
    result: StepResult | None = None
    error: str | None = None  # "could not run: ..." or "failed: ..."
    skipped: str | None = None  # why its `when:` did not hold


@cache
def _task(name: str, fn: Any) -> Task[..., Any]:
    return task(name=name)(fn)


def step_task(spec: StepSpec) -> Task[..., Any]:
    """The step as a Prefect task named for it: each call shows as a task run (named for the call) in the
    UI, with the task's timeout and retry settings."""
    assert spec.fn is not None, f"{spec.name} is not available in this build"
    return _task(spec.name, spec.fn)


# A step raising one of these has a bug: its traceback belongs in the log. Anything else it raises is what
# the world answered (403, no such deployment, host unreachable): a finding, told in one line.
BUGS = (TypeError, AttributeError, NameError, KeyError, IndexError, AssertionError, ImportError)


def _answered(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the world's refusals as a Failed state of one line instead of a raised traceback (the
    flow run's log, `warroom up`'s console, held hundreds of lines of them for a few incidents)."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BUGS:
            raise
        except Exception as exc:
            return Failed(message=short_error(exc), data=exc)

    return run


@cache
def _diagnostic_task(name: str, fn: Any) -> Task[..., Any]:
    return task(name=name)(_answered(fn))


def submit(response: Response, call: StepCall, label: str) -> PrefectFuture[Any] | str:
    """Render and validate a step call and start it as a task; or say why it cannot start."""
    spec = get_step(call.use)
    if spec is None or spec.fn is None:
        return f"{call.use} is not available in this build"
    try:
        params = spec.params.model_validate(render_value(call.with_, response.context()))
    except (ExpressionError, ValidationError) as exc:
        return f"bad params: {redact_text(str(exc))}"
    options: dict[str, Any] = {"task_run_name": label}
    if call.timeout is not None:
        options["timeout_seconds"] = call.timeout.total_seconds()
    return _diagnostic_task(spec.name, spec.fn).with_options(**options).submit(params)


def run_steps(response: Response, calls: list[tuple[StepCall, str]]) -> list[StepRun]:
    """Start every call whose `when:` holds, wait for all, and collect what each one returned."""
    step_aside()
    runs: list[StepRun] = []
    for call, label in calls:
        if call.when is not None:
            cond = evaluate_condition(call.when, response.context())
            if not cond.value:
                runs.append(StepRun(call, label, skipped=cond.error or f"{call.when} is false"))
                continue
        started = submit(response, call, label)
        if isinstance(started, str):
            runs.append(StepRun(call, label, error=f"could not run: {started}"))
        else:
            runs.append(StepRun(call, label, future=started))
    wait([s.future for s in runs if s.future is not None])
    for s in runs:
        if s.future is None:
            continue
        result = s.future.result(raise_on_failure=False)
        if isinstance(result, StepResult):
            s.result = result
        else:
            s.error = "failed: " + (
                short_error(result) if isinstance(result, BaseException) else repr(result)
            )
    return runs
