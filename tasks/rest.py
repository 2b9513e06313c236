"""One call to a vendor's REST API, as every integration here makes it: a rate limit (429, or 403 with
GitHub's exhausted quota) or a busy server is waited out a few times (``Retry-After`` honoured up to 10 s),
anything else non-2xx becomes the caller's error carrying the vendor's own message, never a secret."""

from __future__ import annotations

import time
from typing import Any

import httpx

from warroom.redact import redact_text

_RETRIED = {429, 502, 503, 504}
MAX_WAIT = 10.0


def _limited(response: httpx.Response) -> bool:
    if response.status_code in _RETRIED:
        return True
    return response.status_code == 403 and response.headers.get("x-ratelimit-remaining") == "0"


def _delay(response: httpx.Response, attempt: int) -> float:
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.replace(".", "", 1).isdigit():
        return min(float(retry_after), MAX_WAIT)
    reset = response.headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return min(max(int(reset) - time.time(), 0.0), MAX_WAIT)
    return 0.5 * 2**attempt


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    error: type[Exception],
    attempts: int = 4,
    **kwargs: Any,
) -> httpx.Response:
    for attempt in range(attempts):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise error(f"{what}: cannot reach it: {redact_text(str(exc))[:300]}") from None
        if not _limited(response) or attempt == attempts - 1:
            break
        time.sleep(_delay(response, attempt))
    if response.status_code >= 400:
        raise error(f"{what}: {response.status_code} {message(response)}")
    return response


def message(response: httpx.Response) -> str:
    """The vendor's own words: ``message``, ``error``, ``details``, Jira's ``errorMessages``/``errors``."""
    try:
        body = response.json()
    except ValueError:
        return redact_text(response.text.strip()[:300]) or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "details", "errorMessages"):
            value = body.get(key)
            if value:
                return redact_text(str(value if not isinstance(value, list) else value[0])[:300])
        if isinstance(body.get("errors"), dict) and body["errors"]:
            return redact_text("; ".join(f"{k}: {v}" for k, v in body["errors"].items())[:300])
    return redact_text(str(body)[:300])
