"""`warroom run` (a runbook, followed live) and `warroom up` (everything on the embedded defaults)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import catalogue_of, err, fail, open_store, out, pairs
from warroom.home import secure_home
from warroom.settings import get_settings


def run(
    name: Annotated[str, typer.Argument(help="Runbook name")],
    param: Annotated[list[str] | None, typer.Option("--param", help="key=value")] = None,
    alert: Annotated[
        Path | None, typer.Option(help="A JSON file with the alert (labels, annotations, ...)")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Run in this process instead of through the deployment")
    ] = False,
    as_: Annotated[str | None, typer.Option("--as", help="Who starts it (default: the user setting)")] = None,
) -> None:
    """Start a runbook and follow its incident live; exit 0 when it ends resolved."""
    from deployments.launch import run_and_follow

    settings = get_settings()
    catalogue = catalogue_of(None)
    if name not in catalogue.runbooks:
        fail(f"no valid runbook named {name!r} (known: {', '.join(catalogue.runbooks) or 'none'})", 2)
    alert_data: dict[str, Any] | None = None
    if alert is not None:
        try:
            alert_data = json.loads(alert.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"cannot read the alert {alert}: {exc}", 2)
    from contextlib import ExitStack

    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with ExitStack() as stack:
        if not PREFECT_API_URL.value():
            if not local:
                fail(
                    "no Prefect API configured: start `warroom up` and set PREFECT_API_URL, or use --local", 2
                )
            from deployments.serve import local_auth, local_prefect_server

            try:
                api = stack.enter_context(local_prefect_server(settings))
            except RuntimeError as exc:
                fail(str(exc), 1)
            auth = local_auth(settings)
            os.environ["PREFECT_API_AUTH_STRING"] = auth
            stack.enter_context(
                temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth})
            )
            out.print(
                f"started a Prefect server for this run; from another terminal: export PREFECT_API_URL={api} "
                f"(its login is in {settings.home / 'prefect-auth'})"
            )
        code = run_and_follow(
            open_store(),
            catalogue.runbooks[name].runbook,
            params=pairs(param, "--param"),
            alert=alert_data,
            requested_by=as_ or settings.user,
            local=local,
            console=out,
        )
    raise typer.Exit(code)


def up() -> None:
    """Start everything on the embedded defaults: Prefect server (unless one is configured) and every runbook
    served as a deployment. Ctrl-C stops what it started."""
    from deployments.serve import serve_everything

    catalogue = catalogue_of(None)
    for problem in catalogue.problems:
        err.print(f"not served: {problem}")
    if not catalogue.runbooks:
        fail("no valid runbooks to serve", 1)
    settings = get_settings()
    try:
        # Once per start of the main job, not per command: homes made before it was private, fixed up.
        secure_home(settings.home)
        serve_everything(settings, catalogue, out)
    except (RuntimeError, OSError) as exc:
        fail(str(exc), 1)
