"""What a notifier does for Warroom: carry one page to one person (or to the team's own pager), and say
whether it got there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from warroom.settings import Settings


class NotifyError(RuntimeError):
    """The channel refused or could not be reached; the message says which and why (never a secret)."""


@dataclass(frozen=True)
class Notice:
    """A page: which incident, whom, and how to acknowledge it."""

    incident: str  # INC-N
    title: str
    severity: str
    person: str | None
    target: str  # team/layer, or a person on the escalation path
    step: int
    ack_within_seconds: float
    slack_user: str | None = None
    email: str | None = None

    @property
    def ack_command(self) -> str:
        return f"warroom ack {self.incident} --as {self.person or 'NAME'}"

    @property
    def text(self) -> str:
        minutes = round(self.ack_within_seconds / 60)
        return (
            f"[{self.severity}] {self.incident} {self.title}: you are paged as {self.target}"
            f"{' (escalated)' if self.step else ''}. Acknowledge within {minutes} min: {self.ack_command}"
        )


class Notifier:
    name: ClassVar[str]

    def send(self, notice: Notice, settings: Settings) -> str:
        """Deliver the page; return what the channel said (a message id, a dedup key); NotifyError else."""
        raise NotImplementedError
