"""What a tracker does for Warroom: open a task (an incident, its review, an action item as a subtask of
the incident) and say later whether it is done."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from warroom.settings import Settings


class TrackerError(RuntimeError):
    """The tracker refused or could not be reached; the message is the tracker's own (never a secret)."""


@dataclass(frozen=True)
class TaskSpec:
    ref: str  # "incident", "review" or "action:ID"
    title: str
    body: str  # Markdown
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None  # a Warroom name; the tracker maps it (tracker_users setting)
    due: date | None = None
    parent: str | None = None  # the incident task's key, for a subtask


@dataclass(frozen=True)
class Created:
    key: str
    url: str | None


class Tracker:
    name: ClassVar[str]

    def create(self, spec: TaskSpec, settings: Settings) -> Created:
        raise NotImplementedError

    def is_done(self, key: str, settings: Settings) -> bool | None:
        """Whether the task is closed there; None when the tracker does not say (the ledger decides)."""
        raise NotImplementedError


def account(settings: Settings, person: str | None) -> str | None:
    """The tracker's account for a Warroom name (``tracker_users``), else the name itself."""
    if person is None:
        return None
    return settings.tracker_users.get(person, person)
