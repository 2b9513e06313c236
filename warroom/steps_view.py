"""What a runbook author reads about a step (`warroom steps list|show`): kind, params, result fields."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from warroom.steps import ChangeResult, CheckResult, StepSpec


def type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return re.sub(r"\b(typing|datetime|pathlib|tasks\.[\w.]+|warroom\.[\w.]+)\.", "", str(annotation))


def fields_of(model: type[BaseModel]) -> list[dict[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        default: Any = None
        if info.default is not PydanticUndefined:
            default = info.default
        elif info.default_factory is not None:
            default = "(computed)"
        out.append(
            {
                "name": name,
                "type": type_name(info.annotation),
                "required": info.is_required(),
                "default": default if isinstance(default, str | int | float | bool | None) else str(default),
                "description": info.description or "",
            }
        )
    return out


def result_kind(spec: StepSpec) -> str:
    for kind in (ChangeResult, CheckResult):
        if issubclass(spec.result, kind):
            return kind.__name__
    return "StepResult"


def describe(spec: StepSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind.value,
        "implemented": spec.implemented,
        "summary": spec.summary,
        "dry_run": spec.dry_run is not None,
        "params": fields_of(spec.params),
        "result": {"kind": result_kind(spec), "fields": fields_of(spec.result)},
    }
