"""What the gate benchmarks share: approvers enrolled as people enrol (a key made on their own machine,
its public half registered), and a respond run started in a thread of the measuring process."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any


def enrolled(store: Any, settings: Any, names: list[str]) -> tuple[Path, dict[str, str]]:
    """Each approver's key made under ``laptops/<name>/key.pem`` and its public half registered here;
    the laptops folder and each approver's one-time-code secret for approvals."""
    import pyotp

    from warroom.identity import Purpose, register
    from warroom.signing import make_key

    laptops = settings.home.parent / "laptops"
    secrets = {}
    for name in names:
        signer = make_key(laptops / name / "key.pem", name, replace=True)
        done = register(store, settings, name, signer.public_line(), replace=True)
        secrets[name] = pyotp.parse_uri(done.uris[Purpose.APPROVE]).secret
    return laptops, secrets


def run_in_thread(store: Any, runbook: str, url: str) -> tuple[threading.Thread, Any]:
    """A respond run of ``runbook`` against ``url`` in a thread of this process, its start signed as
    `warroom run --local` signs one, and its incident once opened."""
    from tests.flow_helpers import respond_vouched

    key = f"bench:{uuid.uuid4().hex}"
    kwargs = {"runbook": runbook, "params": {"service_url": url}, "dedup_key": key, "requested_by": "bench"}
    thread = threading.Thread(target=respond_vouched, kwargs=kwargs, daemon=True)
    thread.start()
    while (incident := store.latest_for_key(key)) is None:
        time.sleep(0.05)
    return thread, incident
