"""What a feature-flag provider does for Warroom: read one flag in one environment, and switch it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx

from warroom.redact import redact_text
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


_RETRIED = {429, 502, 503, 504}


def request(
    client: httpx.Client, method: str, url: str, *, what: str, attempts: int = 4, **kwargs: Any
) -> httpx.Response:
    """One API call; a rate limit (429, honouring Retry-After up to 10 s) or a busy server is retried a
    few times, anything else non-2xx becomes a FlagError carrying the provider's message."""
    for attempt in range(attempts):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise FlagError(f"{what}: cannot reach the provider: {redact_text(str(exc))[:300]}") from None
        if response.status_code not in _RETRIED or attempt == attempts - 1:
            break
        retry_after = response.headers.get("Retry-After", "")
        delay = (
            min(float(retry_after), 10.0) if retry_after.replace(".", "", 1).isdigit() else 0.5 * 2**attempt
        )
        time.sleep(delay)
    if response.status_code >= 400:
        raise FlagError(f"{what}: {response.status_code} {_message(response)}")
    return response


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return redact_text(response.text.strip()[:300]) or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "details"):
            if body.get(key):
                value = body[key]
                return redact_text(str(value if not isinstance(value, list) else value[0])[:300])
    return redact_text(str(body)[:300])
