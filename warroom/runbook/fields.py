"""Which fields a runbook's templates and conditions read, checked against the models that hold them.

A diagnostic's result is its step's result model as JSON, ``result`` in ``expect:`` is the verify step's,
``incident`` the incident, ``alert`` the alert. A path that leaves its model is a problem, with the
nearest field names; a path through a field the step may leave unset (``None``) is a warning for a
condition, since the condition over it is then false or fails.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from warroom.expressions import ExpressionError, field_reads
from warroom.fieldpath import format_loc


@dataclass(frozen=True)
class PathCheck:
    problem: str | None = None  # the path names no field
    unset: str | None = None  # the prefix of the path that may be None


def nearest(word: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when one known word is close, else the empty string."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` as (X, True); anything else as itself."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        has_none = len(args) < len(get_args(tp))
        return (args[0] if len(args) == 1 else Any), has_none
    return tp, False


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """What ``model_dump`` writes: the fields and the computed fields, with their types."""
    out: dict[str, Any] = {name: info.annotation for name, info in model.model_fields.items()}
    out.update({name: info.return_type for name, info in model.model_computed_fields.items()})
    return out


def check_path(root: type[BaseModel], path: Sequence[str | int]) -> PathCheck:
    """Follow ``path`` (its first part names ``root``) through the model's field types."""
    tp: Any = root
    unset: str | None = None
    for i, part in enumerate(path[1:], start=1):
        tp, optional = _optional(tp)
        if optional and unset is None:
            unset = format_loc(path[:i])
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = _fields(tp)
            if not isinstance(part, str) or part not in fields:
                known = ", ".join(fields) or "none"
                hint = nearest(str(part), fields)
                return PathCheck(f"{format_loc(path[:i])} has no field {part!r}{hint} (its fields: {known})")
            tp = fields[part]
            continue
        origin = get_origin(tp)
        if origin in (dict, Mapping) or tp is dict:
            args = get_args(tp)
            tp = args[1] if len(args) == 2 else Any
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            args = get_args(tp)
            tp = args[0] if args else Any
        else:
            return PathCheck(unset=unset)  # a scalar's method, or a value of no declared shape
    tp, optional = _optional(tp)
    if optional and unset is None:
        unset = format_loc(path)
    return PathCheck(unset=unset)


@dataclass(frozen=True)
class FieldProblems:
    errors: list[str]
    warnings: list[str]


def check_reads(text: str, roots: Mapping[str, type[BaseModel]], *, expression: bool) -> FieldProblems:
    """The field paths ``text`` reads through ``roots``: the ones that name no field, and (for a condition)
    the ones through a field that may be unset without an ``is none`` test beside them."""
    try:
        reads = field_reads(text, expression=expression)
    except ExpressionError:
        return FieldProblems([], [])  # reported by the compile check
    errors: list[str] = []
    warnings: list[str] = []
    for read in reads:
        root = roots.get(str(read.path[0]))
        if root is None:
            continue
        checked = check_path(root, read.path)
        if checked.problem is not None:
            errors.append(checked.problem)
        elif checked.unset is not None and expression and not read.guarded:
            read_as = format_loc(read.path)
            warnings.append(
                f"{checked.unset} may be unset (None), and then {read_as!r} is not what it says:"
                f" test `{checked.unset} is not none` first"
            )
    return FieldProblems(list(dict.fromkeys(errors)), list(dict.fromkeys(warnings)))
