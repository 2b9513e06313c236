"""Prefect's REST API as the answering path speaks it: httpx, without importing Prefect (whose import alone
takes over a second at a person's terminal), retried as Prefect's own client retries a busy server."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from warroom.answers import GateError
from warroom.tls import tls_context


def _api() -> tuple[str, dict[str, str], tuple[str, str] | None]:
    url = os.environ.get("PREFECT_API_URL")
    auth = os.environ.get("PREFECT_API_AUTH_STRING")
    key = os.environ.get("PREFECT_API_KEY")
    if not url:  # only then pay for Prefect's settings (profiles, .env)
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

        url = PREFECT_API_URL.value()
        auth = auth or PREFECT_API_AUTH_STRING.value()
        key = key or PREFECT_API_KEY.value()
    if not url:
        raise GateError(
            "no Prefect server: start `warroom up` (found then through WARROOM_HOME), or set PREFECT_API_URL"
        )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    user, _, password = (auth or "").partition(":")
    basic = (user, password) if auth and ":" in auth else None
    return url.rstrip("/"), headers, basic


_RETRY_STATUS = {429, 502, 503, 504}  # a busy Prefect server (SQLite locked): what Prefect's client retries


def post(http: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    """POST, retried with backoff while the server says it is busy, as Prefect's own client does."""
    for delay in (0.2, 0.5, 1.0, 2.0, 4.0):
        response = http.post(url, json=body)
        if response.status_code not in _RETRY_STATUS:
            break
        time.sleep(
            float(response.headers.get("Retry-After", delay)) if response.status_code == 429 else delay
        )
    response.raise_for_status()
    return response


def client() -> httpx.Client:
    url, headers, basic = _api()
    return httpx.Client(base_url=url, headers=headers, auth=basic, timeout=15, verify=tls_context())


def read_input(http: httpx.Client, flow_run_id: str, key: str) -> Any:
    """A run-input value beside a run (None when there is none)."""
    response = http.get(f"/flow_runs/{flow_run_id}/input/{key}")
    if response.status_code != 200:
        return None
    try:
        return json.loads(response.text)
    except json.JSONDecodeError:
        return None


# The gate stores its form just after the run pauses (Prefect deletes any input under a pause's keys as it
# pauses): an answer sent in between is rejected, the run untouched, and is sent again once the form is there.
_FORM_NOT_STORED = "Run input schema not found."
_FORM_PATIENCE_SECONDS = 15.0


def resume(http: httpx.Client, flow_run_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    """Resume the paused run with ``answer``: Prefect's result (ACCEPT, or its status and reason)."""
    deadline = time.monotonic() + _FORM_PATIENCE_SECONDS
    while True:
        result: dict[str, Any] = post(http, f"/flow_runs/{flow_run_id}/resume", {"run_input": answer}).json()
        reason = (result.get("details") or {}).get("reason")
        if result.get("status") != "REJECT" or reason != _FORM_NOT_STORED or time.monotonic() >= deadline:
            return result
        time.sleep(0.1)
