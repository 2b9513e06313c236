"""The step registry: every name a runbook may ``use:``, with its params and result models.

Steps are Prefect tasks that live in ``tasks/``; they register themselves here on import, so that
validating a runbook checks every ``with:`` against the step's own params model.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, partial
from typing import Any, get_type_hints

from pydantic import BaseModel, Field

STEP_ENTRY_POINTS = "warroom.steps"  # the built-in step modules, and any installed package's own


class StepKind(StrEnum):
    DIAGNOSTIC = "diagnostic"  # reads only; runs without approval
    MITIGATION = "mitigation"  # changes production; runs only after an authorized approval


class StepResult(BaseModel):
    """What every step returns: one line for the timeline, then its own typed fields."""

    summary: str = ""

    @property
    def headline(self) -> str:
        return self.summary

    @property
    def trouble(self) -> bool:
        """Did this diagnostic find something wrong? (It shows as such in the Prefect UI.)"""
        return False


class CheckResult(StepResult):
    """A yes/no finding: healthy or not, and why. A verify step passes on ``ok``."""

    ok: bool
    reason: str = ""

    @property
    def headline(self) -> str:
        return self.summary or self.reason

    @property
    def trouble(self) -> bool:
        return not self.ok


class ChangeResult(StepResult):
    """What a mitigation did. Only ``applied`` and not ``partial`` counts as the change made."""

    applied: bool
    partial: bool = Field(
        default=False, description="Some of the change was made (some hosts, some resources), not all"
    )
    dry_run: bool = False
    way_back: str = ""
    error: str | None = None

    @property
    def made(self) -> bool:
        return self.applied and not self.partial and not self.dry_run


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    params: type[BaseModel]
    result: type[BaseModel]
    summary: str
    fn: Callable[..., Any] | None = None  # the step's function; the flows run it as a Prefect task
    dry_run: Callable[..., Any] | None = None  # for a mitigation: what it would change, changing nothing

    @property
    def implemented(self) -> bool:
        return self.fn is not None


_REGISTRY: dict[str, StepSpec] = {}
_loaded: set[str] = set()


def _summary(fn: Callable[..., Any] | None, fallback: str = "") -> str:
    doc = inspect.getdoc(fn) if fn is not None else None
    return (doc or fallback).strip().splitlines()[0] if (doc or fallback) else ""


def _signature_models(fn: Callable[..., Any]) -> tuple[type[BaseModel], type[BaseModel]]:
    hints = get_type_hints(fn)
    ret = hints.pop("return", None)
    models = [h for h in hints.values() if isinstance(h, type) and issubclass(h, BaseModel)]
    if len(models) != 1 or not (isinstance(ret, type) and issubclass(ret, BaseModel)):
        raise TypeError(f"{fn.__qualname__}: a step takes one pydantic params model and returns one")
    return models[0], ret


def register(spec: StepSpec) -> StepSpec:
    """Add a step; its result must say what the flow needs: a change for a mitigation, a step result else."""
    needed = ChangeResult if spec.kind is StepKind.MITIGATION else StepResult
    if not issubclass(spec.result, needed):
        raise TypeError(
            f"step {spec.name!r}: a {spec.kind.value} returns a {needed.__name__} "
            f"(warroom.steps), not {spec.result.__name__}"
        )
    if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not spec.fn:
        raise ValueError(f"step {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def register_function(name: str, kind: StepKind, fn: Callable[..., Any]) -> StepSpec:
    """Register ``fn`` as the step ``name`` (``tasks/step.py``'s ``@step`` does this): its params and result
    models come from its signature, its summary from its docstring's first line, and a mitigation that takes
    ``dry_run`` is its own dry run."""
    params, result = _signature_models(fn)
    dry_run = partial(fn, dry_run=True) if "dry_run" in inspect.signature(fn).parameters else None
    if dry_run is not None and StepKind(kind) is not StepKind.MITIGATION:
        raise TypeError(f"step {name!r}: only a mitigation has a dry run")
    return register(StepSpec(name, StepKind(kind), params, result, _summary(fn), fn, dry_run))


def step_modules() -> list[str]:
    """The modules that register steps: installed packages' ``warroom.steps`` entry points, then the
    team's own modules from the ``step_modules`` setting. The domain names none of them itself."""
    from warroom.settings import get_settings

    return [*_installed_step_modules(), *get_settings().step_modules]


@cache
def _installed_step_modules() -> tuple[str, ...]:
    # Read once per process: a scan of every installed package's metadata (~12 ms, far more on a busy
    # machine) was made at every step lookup, and fifty gates answered at once looked up hundreds.
    from importlib.metadata import entry_points

    return tuple(sorted(ep.value for ep in entry_points(group=STEP_ENTRY_POINTS)))


def load_builtin_steps() -> None:
    """Import every module that registers steps (see ``step_modules``); a package's every module, so a new
    step in a family is a new file and nothing else."""
    for module in step_modules():
        if module not in _loaded:
            imported = importlib.import_module(module)
            for found in pkgutil.walk_packages(getattr(imported, "__path__", []), prefix=f"{module}."):
                importlib.import_module(found.name)
            _loaded.add(module)


def get_step(name: str) -> StepSpec | None:
    load_builtin_steps()
    return _REGISTRY.get(name)


def all_steps() -> dict[str, StepSpec]:
    load_builtin_steps()
    return dict(sorted(_REGISTRY.items()))
