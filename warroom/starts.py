"""Who started a flow run, proven the way an approver is, or unknown.

A start is vouched for after the flow run exists, bound to its id and to a digest of its parameters:
- the receiver vouches for a run it launched for an alert it stored (a row in the ledger);
- a person signs, with their own key, the runbook, the parameters' digest and the flow run's id
  (``warroom/signing.py``); `warroom run` leaves that signature in the run's input, where it proves
  nothing for any other run or other parameters, and the run checks it and keeps it in the ledger.

Nothing here is a bearer value: a copied proof names another run, and a run whose parameters were changed
after the start (a PATCH of a scheduled run) no longer matches its digest. A run nobody vouched for (the
Prefect UI's *Run*, the API) has an unknown starter, whatever its ``requested_by`` says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from warroom.identity import check_signature
from warroom.incident import Severity
from warroom.ledger import Store
from warroom.ledger.approvals import StartProof
from warroom.signing import start_message

START_TAG = "warroom:vouched"  # on runs whose starter will be vouched for: the run waits for the proof
START_INPUT = "warroom-start"  # the run-input key `warroom run` leaves its signed start under

# In-process starts (`warroom run --local`, tests): the process that starts the flow is the one it runs
# in, so it vouches through this hook instead of through Prefect. Called with the flow run's id; returns
# a signed start, or None after binding a proof in the ledger itself. It vouches for the parameters it
# passed, whatever the run received.
Voucher = Callable[[str], dict[str, str] | None]
LOCAL_VOUCHER: ContextVar[Voucher | None] = ContextVar("warroom_local_voucher", default=None)


class Decided(BaseModel):
    """What the receiver decided for an alert, carried by the launch so that the run decides nothing again:
    the incident it opened (or attached the alert to) and the level its severity rules gave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident: int = Field(ge=1)
    level: Severity


def params_digest(
    *,
    runbook: str,
    params: dict[str, Any] | None,
    alert: dict[str, Any] | None,
    dedup_key: str | None,
    requested_by: str | None,
    decided: dict[str, Any] | None = None,
) -> str:
    """The digest of everything in a run's parameters that decides what it does and whom it names."""
    body: dict[str, Any] = {
        "runbook": runbook,
        "params": params or {},
        "alert": alert or {},
        "dedup_key": dedup_key,
        "requested_by": requested_by,
    }
    if decided is not None:  # only alert launches carry it; a person's start digests as it always has
        body["decided"] = decided
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Starter:
    name: str | None  # the proven starter; when not proven, the name the run claims (or None)
    proven: bool
    why: str  # how it was proven, or why it is not

    def label(self) -> str:
        who = self.name or "unknown"
        return who if self.proven else f"{who} (not proven: {self.why})"


def from_proof(proof: StartProof, runbook: str, digest: str, claimed: str | None) -> Starter:
    """The starter a ledger proof names, if it was given for this runbook and exactly these parameters."""
    if proof.runbook != runbook or proof.params_digest != digest:
        return Starter(
            claimed,
            False,
            f"the run's parameters differ from what {proof.starter} vouched for "
            "(changed through the Prefect API after the start)",
        )
    how = "the receiver, for the alert it stored" if proof.kind == "receiver" else "their signature"
    return Starter(proof.starter, True, f"vouched for by {how}")


def from_signed(
    store: Store,
    signed: dict[str, Any],
    *,
    flow_run_id: str,
    runbook: str,
    digest: str,
    claimed: str | None,
) -> Starter:
    """Check a person's signed start; bind it in the ledger when it holds."""
    starter = str(signed.get("starter") or "")[:100]
    signature = str(signed.get("signature") or "")
    message = start_message(flow_run_id=flow_run_id, runbook=runbook, params_digest=digest, starter=starter)
    identity = check_signature(store, starter, message, signature)
    if not identity.ok:
        return Starter(claimed, False, f"the signed start of {starter or '?'} did not verify: {identity.why}")
    proof = store.vouch_start(
        flow_run_id,
        runbook=runbook,
        params_digest=digest,
        starter=starter,
        kind="signed",
        key_fingerprint=identity.key,
        signature=signature,
    )
    return from_proof(proof, runbook, digest, claimed)


def nobody(claimed: str | None, tagged: bool) -> Starter:
    if tagged:
        return Starter(claimed, False, "the run was marked as vouched for, but no proof arrived")
    return Starter(claimed, False, "started through the Prefect UI or API; nobody vouched for it")
