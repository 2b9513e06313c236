"""The alert formats the receiver takes: one module per sender in this package, each with its ``FORMAT``.

Adding a format is a new module here (and its test); the receiver, the CLI and the serve banner all read
the list from this registry.
"""

from __future__ import annotations

from warroom.intake.formats.base import AlertFormat, Parsed
from warroom.registry import discover

FORMATS: dict[str, AlertFormat] = discover(__name__, __path__, "FORMAT", AlertFormat)
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)

__all__ = ["FORMATS", "FORMAT_NAMES", "AlertFormat", "Parsed"]
