"""How many after a scaling change: ``+50%``, ``-2``, ``x2`` or an absolute count, clamped to a floor and a
ceiling. One rule for Kubernetes replicas, ECS desired counts and Auto Scaling group capacity."""

from __future__ import annotations

import math
import re

RELATIVE = re.compile(r"[+-]\d+%?|x\d+(\.\d+)?")


def check_relative(change: str | None) -> str | None:
    """A relative change as runbooks write it, or a ValueError that shows how to write one."""
    if change is not None and not RELATIVE.fullmatch(change):
        raise ValueError(f"write +50%, -2 or x2, not {change!r}")
    return change


def check_one_way(absolute: int | None, change: str | None, low: int, high: int) -> None:
    if (absolute is None) == (change is None):
        raise ValueError("give either an absolute count or a relative change, not both or neither")
    if high < low:
        raise ValueError(f"the ceiling {high} is below the floor {low}")


def target(
    current: int,
    absolute: int | None,
    change: str | None,
    low: int,
    high: int,
    names: tuple[str, str] = ("the floor", "the ceiling"),
) -> tuple[int, str]:
    """The count asked for, clamped to [low, high], and a note saying so when it was clamped.
    A percentage rounds up, so +50% of 1 is 2: scaling out always adds at least one."""
    if absolute is not None:
        wanted = absolute
    else:
        step = change or "+0"
        if step.startswith("x"):
            wanted = math.ceil(current * float(step[1:]))
        elif step.endswith("%"):
            sign = -1 if step.startswith("-") else 1
            wanted = current + sign * math.ceil(current * abs(int(step[:-1])) / 100)
        else:
            wanted = current + int(step)
    clamped = min(max(wanted, low), high)
    note = ""
    if clamped != wanted:
        bound = names[1] if clamped < wanted else names[0]
        note = f" (asked for {wanted}, clamped to {bound} {clamped})"
    return clamped, note
