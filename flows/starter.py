"""Before a run does anything: was it withdrawn before it started, and who started it (``warroom/starts.py``).

A run cancelled (or otherwise made final) while it waited for a worker can still be started by one, and
Prefect lets the engine set it running again. Its body must not run: whoever cancelled it meant it.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import StateType

from flows.prefect_api import prefect_api, read_input
from warroom.ledger import Store
from warroom.settings import Settings
from warroom.starts import LOCAL_VOUCHER, START_INPUT, START_TAG, Starter, from_proof, from_signed, nobody

FINAL = {StateType.CANCELLED, StateType.CANCELLING, StateType.COMPLETED, StateType.FAILED, StateType.CRASHED}


def withdrawn_before_start(flow_run_id: str) -> str | None:
    """The final state the run was put in since it was last scheduled, before this start; else None.

    Only since the last schedule: a run the keeper scheduled again after a crash re-enters its gate."""
    with prefect_api() as client:
        states = client.read_flow_run_states(UUID(flow_run_id))
    ordered = sorted(states, key=lambda s: s.timestamp)[:-1]  # the last is this start's RUNNING
    scheduled = [i for i, s in enumerate(ordered) if s.type is StateType.SCHEDULED]
    since = ordered[scheduled[-1] + 1 :] if scheduled else ordered
    for state in since:
        if state.type in FINAL:
            return f"{state.name or state.type.value}" + (f" ({state.message})" if state.message else "")
    return None


def _signed_input(flow_run_id: str) -> dict[str, Any] | None:
    value = read_input(UUID(flow_run_id), START_INPUT)
    return value if isinstance(value, dict) else None


def who_started(
    store: Store,
    settings: Settings,
    *,
    flow_run_id: str,
    tags: list[str],
    runbook: str,
    digest: str,
    claimed: str | None,
) -> Starter:
    """The proven starter of this run, or why it is unknown; waits for a proof only when one is coming."""
    voucher = LOCAL_VOUCHER.get()
    coming = voucher is not None or START_TAG in tags
    deadline = time.monotonic() + (settings.start_proof_wait_seconds if coming else 0)
    asked = False
    while True:
        proof = store.start_proof(flow_run_id)
        if proof is not None:
            return from_proof(proof, runbook, digest, claimed)
        signed: dict[str, Any] | None = None
        if voucher is not None and not asked:
            asked = True
            signed = voucher(flow_run_id)
            if signed is None:
                continue  # it bound a proof in the ledger: read it
        elif START_TAG in tags:
            signed = _signed_input(flow_run_id)
        if signed is not None:
            return from_signed(
                store, signed, flow_run_id=flow_run_id, runbook=runbook, digest=digest, claimed=claimed
            )
        if time.monotonic() >= deadline:
            return nobody(claimed, coming)
        time.sleep(0.2)
