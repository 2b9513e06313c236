"""Notifiers: one module per channel in this package, each with its ``NOTIFIER``."""

from __future__ import annotations

import importlib
import pkgutil

from tasks.notifiers.base import Notice, Notifier, NotifyError


def _discover() -> dict[str, Notifier]:
    found: dict[str, Notifier] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
        notifier = importlib.import_module(f"{__name__}.{module}").NOTIFIER
        found[notifier.name] = notifier
    return found


NOTIFIERS: dict[str, Notifier] = _discover()


def notifier(name: str) -> Notifier:
    if name not in NOTIFIERS:
        raise NotifyError(f"no notifier {name!r} (available: {', '.join(sorted(NOTIFIERS))})")
    return NOTIFIERS[name]


__all__ = ["NOTIFIERS", "Notice", "Notifier", "NotifyError", "notifier"]
