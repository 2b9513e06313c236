"""The Prefect client a flow's own calls use: inside a flow or task run, the run's own (no new connection,
TLS context and CSRF token per call, which a storm of runs pays on a saturated Prefect server); outside
one, a fresh client for the call. Run inputs are read and written through it too: Prefect's own
``read_flow_run_input`` and friends make a client per call (about 30 ms of CPU each on these machines,
most of it loading the CA bundle), and fifty gates answered at once made hundreds of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.context import SyncClientContext
from prefect.exceptions import ObjectNotFound
from pydantic_core import to_json


@contextmanager
def prefect_api() -> Iterator[SyncPrefectClient]:
    with SyncClientContext.get_or_create() as ctx:
        yield ctx.client


def _missing(exc: Exception) -> bool:
    return isinstance(exc, ObjectNotFound) or (
        isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 404
    )


def read_input(flow_run_id: UUID, key: str) -> Any:
    """The value stored under ``key`` beside the run, or None when there is none."""
    with prefect_api() as client:
        try:
            raw = client.read_flow_run_input(flow_run_id=flow_run_id, key=key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
    return json.loads(raw)


def delete_input(flow_run_id: UUID, key: str) -> None:
    """Remove the value stored under ``key`` (already gone is fine)."""
    with prefect_api() as client:
        try:
            client.delete_flow_run_input(flow_run_id=flow_run_id, key=key)
        except Exception as exc:
            if not _missing(exc):
                raise


def write_input(flow_run_id: UUID, key: str, value: Any, *, own_client: bool = False) -> None:
    """Store ``value`` (JSON) under ``key`` beside the run. ``own_client``: a client of the call's own,
    for a thread that may outlive the run whose client it would otherwise borrow."""
    body = to_json(value).decode()  # as Prefect's own (orjson): datetimes, UUIDs and models as JSON
    with get_client(sync_client=True) if own_client else prefect_api() as client:
        client.create_flow_run_input(flow_run_id=flow_run_id, key=key, value=body)
