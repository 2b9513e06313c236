"""What a feature-flag provider does for Warroom: read one flag in one environment, and switch it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx

from tasks import rest
from warroom.settings import Settings


class FlagError(RuntimeError):
    """A refusal with the provider's own words: unknown flag or environment, no access, not configured."""


@dataclass(frozen=True)
class FlagRef:
    flag: str
    environment: str
    project: str | None


@dataclass(frozen=True)
class FlagReading:
    enabled: bool
    strategies: list[str] = field(default_factory=list)
    last_change: datetime | None = None
    changed_by: str | None = None


class FlagProvider:
    name: ClassVar[str]

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        raise NotImplementedError

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        """Switch the flag on or off in the environment, leaving everything else about it as it is."""
        raise NotImplementedError


def request(
    client: httpx.Client, method: str, url: str, *, what: str, attempts: int = 4, **kwargs: Any
) -> httpx.Response:
    """One provider API call (tasks/rest.py); what is refused becomes a FlagError in the provider's words."""
    return rest.request(client, method, url, what=what, error=FlagError, attempts=attempts, **kwargs)
