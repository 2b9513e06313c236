"""The alert formats the receiver takes: one module per sender in this package, each with its ``FORMAT``.

Adding a format is a new module here (and its test); the receiver, the CLI and the serve banner all read
the list from this registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from warroom.intake.formats.base import AlertFormat, Parsed

_NOT_FORMATS = {"base"}


def _discover() -> dict[str, AlertFormat]:
    found: dict[str, AlertFormat] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_FORMATS):
        fmt = importlib.import_module(f"{__name__}.{module}").FORMAT
        if not isinstance(fmt, AlertFormat):
            raise TypeError(f"{__name__}.{module}.FORMAT is not an AlertFormat")
        if fmt.name in found:
            raise ValueError(f"alert format {fmt.name!r} is declared twice")
        found[fmt.name] = fmt
    return found


FORMATS: dict[str, AlertFormat] = _discover()
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)

__all__ = ["FORMATS", "FORMAT_NAMES", "AlertFormat", "Parsed"]
