"""How a timeline reads to a person: each event numbered by its place in its incident, and the repeats of
one firing alert (Alertmanager re-sends a firing group every repeat interval) folded into one row.

Only the reading is folded: every event, with its payload, stays in the ledger and in `--json` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warroom.events import EventKind
from warroom.incident import TimelineEvent

# Kinds a sender repeats while the condition holds; a repeat is the same alert (fingerprint) with the
# same start. An alert that resolved and fired again has a new start, so it is a new row.
REPEATED_KINDS = frozenset({EventKind.ALERT_FIRING})


@dataclass(frozen=True)
class TimelineRow:
    """One row of a timeline as shown: the first event of its kind and alert, and how often it came."""

    number: int
    event: TimelineEvent
    repeats: list[TimelineEvent] = field(default_factory=list)

    @property
    def count(self) -> int:
        return 1 + len(self.repeats)

    @property
    def last_at(self) -> datetime:
        return self.repeats[-1].at if self.repeats else self.event.at

    @property
    def text(self) -> str:
        """The event's words; for a repeated alert, how many notifications came and over what span."""
        if not self.repeats:
            return self.event.text
        return (
            f"{self.event.text} (firing, {self.count} notifications since {self.event.at:%H:%M}, "
            f"last at {self.last_at:%H:%M})"
        )


def _repeat_key(event: TimelineEvent) -> tuple[str, Any, Any] | None:
    if event.kind not in REPEATED_KINDS:
        return None
    alert = (event.data or {}).get("alert") or {}
    fingerprint = alert.get("fingerprint")
    return (event.kind, fingerprint, alert.get("starts_at")) if fingerprint else None


def timeline_rows(events: Sequence[TimelineEvent]) -> list[TimelineRow]:
    """The incident's events in recorded order, numbered from 1, repeats folded into their first row."""
    rows: list[TimelineRow] = []
    first: dict[tuple[str, Any, Any], TimelineRow] = {}
    for number, event in enumerate(events, start=1):
        key = _repeat_key(event)
        if key is not None and key in first:
            first[key].repeats.append(event)
            continue
        row = TimelineRow(number, event)
        rows.append(row)
        if key is not None:
            first[key] = row
    return rows
