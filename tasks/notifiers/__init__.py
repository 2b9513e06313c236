"""Notifiers: one module per channel in this package, each with its ``NOTIFIER``."""

from __future__ import annotations

from tasks.notifiers.base import Notice, Notifier, NotifyError
from warroom.registry import discover

NOTIFIERS: dict[str, Notifier] = discover(__name__, __path__, "NOTIFIER", Notifier)


def notifier(name: str) -> Notifier:
    if name not in NOTIFIERS:
        raise NotifyError(f"no notifier {name!r} (available: {', '.join(sorted(NOTIFIERS))})")
    return NOTIFIERS[name]


__all__ = ["NOTIFIERS", "Notice", "Notifier", "NotifyError", "notifier"]
