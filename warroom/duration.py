"""Durations as runbooks write them: ``30s``, ``2m``, ``1h30m``, ``1d`` (or a number of seconds)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``15m``-style text, seconds, or a timedelta; anything else is a clear ValueError."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is text like 30s, 2m, 1h30m, or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text and _PART.sub("", text) == "":
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 2m, 1h30m)")


# What a form accepts as a duration: the same language, anchored.
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"


def format_duration(value: timedelta) -> str:
    """The ``1h30m`` text of a duration (whole seconds; below a second, milliseconds)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        millis = round(value.total_seconds() * 1000)
        return f"{millis}ms" if millis else "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
