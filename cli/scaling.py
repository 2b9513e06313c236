"""`warroom deploy`, `warroom receiver`, `warroom worker`: Warroom on an existing Prefect server, its work
pools and workers, with any number of receivers on one PostgreSQL ledger."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import catalogue_of, err, fail, out, show_keeper_lines
from warroom.home import secure_home
from warroom.ledger import safe_url
from warroom.settings import get_settings


def _prefect_api() -> str:
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        fail("no Prefect server: set PREFECT_API_URL (and PREFECT_API_AUTH_STRING or PREFECT_API_KEY)", 2)
    return str(api)


def deploy(
    pool: Annotated[str, typer.Option("--pool", help="The work pool whose workers run the runbooks")],
    queue: Annotated[str | None, typer.Option("--queue", help="A work queue of that pool")] = None,
    pool_type: Annotated[
        str,
        typer.Option(
            "--pool-type",
            help="Type of the pool when it must be made: warroom (warm: runs in threads of `warroom "
            "worker`), process (a process per run), kubernetes (a pod per run)",
        ),
    ] = "warroom",
    prefect_yaml: Annotated[
        Path | None,
        typer.Option(
            "--prefect-yaml", help="Write the deployments as a prefect.yaml here instead ('-': print)"
        ),
    ] = None,
) -> None:
    """Register every valid runbook (and the acknowledge, post-mortem and tracker deployments) on a work
    pool of the Prefect server at PREFECT_API_URL; workers of that pool run them."""
    from deployments.distributed import ensure_pool, register
    from deployments.distributed import prefect_yaml as render

    catalogue = catalogue_of(None)
    for problem in catalogue.problems:
        err.print(f"not deployed: {problem}")
    if not catalogue.runbooks:
        fail("no valid runbooks to deploy", 1)
    if prefect_yaml is not None:
        text = render(catalogue, pool)
        if str(prefect_yaml) == "-":
            sys.stdout.write(text)
        else:
            prefect_yaml.write_text(text)
            out.print(
                f"wrote {prefect_yaml}: `prefect deploy --all --prefect-file {prefect_yaml}` registers it"
            )
        return
    api = _prefect_api()
    try:
        made = ensure_pool(pool, pool_type)
        names = register(catalogue, pool, queue=queue)
    except RuntimeError as exc:
        fail(str(exc), 1)
    except Exception as exc:  # Prefect refused: say what it said
        fail(f"could not register on {api}: {type(exc).__name__}: {exc}", 1)
    for name in names:
        out.print(f"deployed {name} on work pool {pool} ({made})")
    out.print(f"run them with: warroom worker --pool {pool}   (on any machine with Warroom installed)")


def receiver(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: the setting)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: the setting)")] = None,
) -> None:
    """The alert receiver alone, launching into the Prefect server at PREFECT_API_URL. Run several on one
    PostgreSQL ledger (WARROOM_DATABASE_URL): one of them launches and keeps watch at a time, and another
    takes over when it dies."""
    from deployments.distributed import serve_receiver

    api = _prefect_api()
    settings = get_settings()
    updates = {k: v for k, v in (("receiver_host", host), ("receiver_port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    secure_home(settings.home)
    if not settings.intake_tokens and not settings.intake_hmac_secrets:
        err.print(
            "warning: no WARROOM_INTAKE_TOKENS or WARROOM_INTAKE_HMAC_SECRETS: senders must use the token in "
            f"{settings.home / 'intake-token'}, which differs per machine"
        )
    ledger = settings.ledger_url()
    if ledger.startswith("sqlite"):
        err.print(
            f"warning: the ledger is SQLite ({safe_url(ledger)}); receivers on other machines need "
            "WARROOM_DATABASE_URL to name one PostgreSQL database"
        )
    os.environ.setdefault("PREFECT_API_URL", api)
    show_keeper_lines()
    try:
        serve_receiver(settings, out)
    except (RuntimeError, OSError) as exc:
        fail(str(exc), 1)


def worker(
    pool: Annotated[str, typer.Option("--pool", help="The work pool `warroom deploy` registered on")],
    limit: Annotated[int | None, typer.Option(help="Most flow runs at once on this machine")] = None,
    name: Annotated[str | None, typer.Option(help="The worker's name in Prefect")] = None,
    lane: Annotated[
        str | None,
        typer.Option(
            help="Run one lane in this process: urgent (P1/P2 launches) or normal (the rest); "
            "by default both, each a process of its own"
        ),
    ] = None,
) -> None:
    """Run the pool's flow runs on this machine, in this environment (WARROOM_DATABASE_URL, the approver
    key, step credentials): for a `warroom` pool in threads of two warm processes, one per lane, so P1/P2
    runs never wait behind P3/P4s (no process start per run); else through Prefect's worker for the pool's
    type (`prefect worker start`), which takes the urgent queue first."""
    from deployments.distributed import run_worker

    if lane not in (None, "urgent", "normal"):
        fail(f"--lane: urgent or normal, not {lane!r}", 2)
    _prefect_api()
    try:
        run_worker(
            pool,
            limit=limit,
            poll_seconds=get_settings().runner_poll_seconds,
            name=name,
            lane=lane,  # type: ignore[arg-type]
            working_runs=get_settings().lane_working_runs,
        )
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        fail(str(exc), 1)
