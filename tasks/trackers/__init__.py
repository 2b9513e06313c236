"""Trackers: one module per tracker in this package, each with its ``TRACKER``."""

from __future__ import annotations

from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError
from warroom.registry import discover

TRACKERS: dict[str, Tracker] = discover(__name__, __path__, "TRACKER", Tracker)


def tracker(name: str) -> Tracker:
    if name not in TRACKERS:
        raise TrackerError(f"no tracker {name!r} (available: {', '.join(sorted(TRACKERS))})")
    return TRACKERS[name]


__all__ = ["TRACKERS", "Created", "TaskSpec", "Tracker", "TrackerError", "tracker"]
