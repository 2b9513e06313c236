"""Trackers: one module per tracker in this package, each with its ``TRACKER``."""

from __future__ import annotations

import importlib
import pkgutil

from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError


def _discover() -> dict[str, Tracker]:
    found: dict[str, Tracker] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
        tracker = importlib.import_module(f"{__name__}.{module}").TRACKER
        found[tracker.name] = tracker
    return found


TRACKERS: dict[str, Tracker] = _discover()


def tracker(name: str) -> Tracker:
    if name not in TRACKERS:
        raise TrackerError(f"no tracker {name!r} (available: {', '.join(sorted(TRACKERS))})")
    return TRACKERS[name]


__all__ = ["TRACKERS", "Created", "TaskSpec", "Tracker", "TrackerError", "tracker"]
