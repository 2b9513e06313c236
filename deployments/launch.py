"""Starting a runbook (through its deployment, or in this process) and following its incident live."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import uuid
from typing import Any

from rich.console import Console

from deployments.lanes import lane_for, queue_for
from warroom.events import EventKind
from warroom.incident import Incident, Severity
from warroom.ledger import Store
from warroom.runbook import Runbook, dedup_key_for
from warroom.signing import Signer, start_message
from warroom.starts import LOCAL_VOUCHER, START_INPUT, START_TAG, params_digest

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def run_and_follow(
    store: Store | None,
    rb: Runbook,
    *,
    params: dict[str, Any],
    alert: dict[str, Any] | None,
    signer: Signer | None,
    claimed: str | None,
    local: bool,
    console: Console,
    poll: float = 0.5,
) -> int:
    """Start the runbook and print its timeline as it grows. 0 when it ends resolved, 1 otherwise.

    With ``signer`` the start is signed over this one flow run and exactly these parameters; without, the
    run names ``claimed`` as its starter, unproven. Without a ledger here (a laptop), it starts the run and
    says where to follow it."""
    key = dedup_key_for(rb, alert, f"{rb.name}:manual:{uuid.uuid4().hex[:12]}")
    parameters: dict[str, Any] = {
        "runbook": rb.name,
        "params": params,
        "alert": alert,
        "requested_by": signer.name if signer else claimed,
        "dedup_key": key,
    }
    digest = params_digest(**parameters)

    def signed_start(flow_run_id: str) -> dict[str, str]:
        assert signer is not None
        message = start_message(
            flow_run_id=flow_run_id, runbook=rb.name, params_digest=digest, starter=signer.name
        )
        return {"starter": signer.name, "signature": signer.sign(message)}

    done = threading.Event()
    state: dict[str, Any] = {}
    flow_run_id = None
    if local:
        from flows.respond import respond

        def target() -> None:
            try:
                state["outcome"] = respond(**parameters)
            except BaseException as exc:
                state["error"] = exc
            finally:
                done.set()

        # The thread runs in a copy of this context, so it talks to the same Prefect API as this one, and
        # the flow asks this process (in memory, never through Prefect) to sign its start.
        if signer is not None:
            LOCAL_VOUCHER.set(signed_start)
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(target,), daemon=True, name="warroom-local-run").start()
    else:
        from prefect.deployments import run_deployment
        from prefect.input.actions import create_flow_run_input

        flow_run: Any = run_deployment(
            f"respond/{rb.name}", parameters=parameters, timeout=0, tags=[START_TAG] if signer else None
        )
        flow_run_id = flow_run.id
        if signer is not None:
            # Bound to this run's id and these parameters: useless to anyone who reads it from Prefect.
            create_flow_run_input(START_INPUT, signed_start(str(flow_run_id)), flow_run_id=flow_run_id)
        console.print(f"started flow run {flow_run.name} ({flow_run_id}) of respond/{rb.name}")
        if store is None:
            console.print("no ledger on this machine: follow it in the Prefect UI")
            return 0
    assert store is not None, "a local run needs the ledger"
    seen = 0
    incident: Incident | None = None
    hinted: set[int] = set()
    while True:
        if incident is None:
            incident = store.latest_for_key(key)
            if incident is not None:
                console.print(f"{incident.id}: {incident.title}")
        if incident is not None:
            events = store.timeline(incident.number)
            for event in events[seen:]:
                console.print(f"{event.at:%H:%M:%S} {event.kind:<22} {event.actor:<10} {event.text}")
                if event.kind == EventKind.APPROVAL_REQUESTED and event.id not in hinted:
                    hinted.add(event.id)
                    proposal = event.data.get("proposal")
                    console.print(
                        f"  waiting for approval: warroom approve {incident.id} --proposal {proposal} "
                        "--as NAME --reason TEXT   (or the form on the flow run in the Prefect UI)"
                    )
            seen = len(events)
        if local and done.is_set():
            break
        if flow_run_id is not None and _terminal(flow_run_id):
            break
        time.sleep(poll)
    if "error" in state:
        console.print(f"run failed: {state['error']}")
    final = store.latest_for_key(key)
    if final is None:
        console.print("the run ended before it opened an incident")
        return 1
    if seen < len(store.timeline(final.number)):
        for event in store.timeline(final.number)[seen:]:
            console.print(f"{event.at:%H:%M:%S} {event.kind:<22} {event.actor:<10} {event.text}")
    console.print(f"{final.id} is {final.status.value}")
    return 0 if final.status.value in ("resolved", "closed") else 1


def _terminal(flow_run_id: Any) -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    return bool(run.state and run.state.type.value in TERMINAL)


class PrefectLauncher:
    """Launches a runbook's deployment for an alert; the idempotency key makes a retried launch a no-op.

    Each launch is one API call (create the flow run) on a client kept per launching thread: a storm pays
    neither a new client (its TLS context alone is ~20 ms of CPU) nor a read of the deployment per run."""

    def __init__(self) -> None:
        self._ids: dict[str, Any] = {}
        self._local = threading.local()

    def warm(self) -> None:
        """This thread's client made, and Prefect's client modules loaded, before the first alert (local work:
        nothing here waits on the network)."""
        from prefect.states import Scheduled

        Scheduled()
        self._client()

    def _client(self) -> Any:
        from prefect.client.orchestration import get_client

        client = getattr(self._local, "client", None)
        if client is None:
            client = get_client(sync_client=True)
            client.__enter__()
            self._local.client = client
        return client

    def _deployment(self, runbook: str) -> tuple[Any, bool]:
        """The deployment's id, and whether it is on a work pool (only then has it lanes)."""
        if runbook not in self._ids:
            found = self._client().read_deployment_by_name(f"respond/{runbook}")
            self._ids[runbook] = (found.id, bool(found.work_pool_name))
        return self._ids[runbook]

    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        from prefect.exceptions import ObjectNotFound

        try:
            return self._run(self._deployment(runbook), runbook, parameters, idempotency_key, level)
        except ObjectNotFound:
            self._ids.pop(runbook, None)  # re-registered under a new id: look it up once more
            return self._run(self._deployment(runbook), runbook, parameters, idempotency_key, level)
        except Exception:
            self._drop_client()  # a broken connection is not kept for the next launch
            raise

    def _run(
        self,
        deployment: tuple[Any, bool],
        runbook: str,
        parameters: dict[str, Any],
        idempotency_key: str,
        level: Severity,
    ) -> str:
        from prefect.states import Scheduled

        deployment_id, pooled = deployment
        flow_run = self._client().create_flow_run_from_deployment(
            deployment_id,
            parameters=parameters,
            state=Scheduled(),
            idempotency_key=idempotency_key,
            tags=[
                f"runbook:{runbook}",
                "source:alert",
                START_TAG,
                f"lane:{lane_for(level)}",
            ],
            work_queue_name=queue_for(level) if pooled else None,
        )
        return str(flow_run.id)

    def _drop_client(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client: nothing left to save
                client.__exit__(None, None, None)
