"""The Prefect client a flow's own calls use: inside a flow or task run, the run's own (no new connection,
TLS context and CSRF token per call, which a storm of runs pays on a saturated Prefect server); outside
one, a fresh client for the call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import SyncPrefectClient
from prefect.context import SyncClientContext


@contextmanager
def prefect_api() -> Iterator[SyncPrefectClient]:
    with SyncClientContext.get_or_create() as ctx:
        yield ctx.client
