"""`warroom run` (a runbook, followed live) and `warroom up` (everything on the embedded defaults)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import (
    catalogue_of,
    err,
    fail,
    ledger_here,
    open_store,
    out,
    own_signer,
    pairs,
    show_keeper_lines,
)
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
    as_: Annotated[
        str | None,
        typer.Option("--as", help="Who starts it: must be your signing key's owner; without a key, a claim"),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="Your signing key (default: WARROOM_KEY_FILE)")] = None,
) -> None:
    """Start a runbook and follow its incident live; exit 0 when it ends resolved.

    The start is signed with your key over this one run and its exact parameters, so four-eyes knows who
    started it; without a key the starter is only claimed, and four-eyes gates need two approvers."""
    from deployments.launch import run_and_follow

    settings = get_settings()
    signer = own_signer(key, as_, required=key is not None)
    if signer is None:
        err.print(
            f"not signed (no key at {settings.key_file}): the run names {as_ or settings.user} as its "
            "starter, unproven; four-eyes gates will need two approvers"
        )
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
                    "no Prefect server: start `warroom up` (found then through WARROOM_HOME), set "
                    "PREFECT_API_URL, or use --local",
                    2,
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
            open_store() if local or ledger_here() else None,
            catalogue.runbooks[name].runbook,
            params=pairs(param, "--param"),
            alert=alert_data,
            signer=signer,
            claimed=as_ or settings.user,
            local=local,
            console=out,
        )
    raise typer.Exit(code)


def up() -> None:
    """Start everything on the embedded defaults: Prefect server (unless one is configured) and every runbook
    served as a deployment. Ctrl-C stops what it started."""
    from deployments.up import serve_everything

    catalogue = catalogue_of(None)
    for problem in catalogue.problems:
        err.print(f"not served: {problem}")
    if not catalogue.runbooks:
        fail("no valid runbooks to serve", 1)
    settings = get_settings()
    old_keys = settings.home / "approver-keys"
    if old_keys.is_dir() and any(old_keys.iterdir()):
        err.print(
            f"warning: {old_keys} holds private keys made on this host by an older Warroom; they no longer "
            "verify (the ledger retired them). Delete them; each approver makes a key on their own machine "
            "(`warroom approvers enroll`) for `warroom approvers register`"
        )
    try:
        # Once per start of the main job, not per command: homes made before it was private, fixed up.
        secure_home(settings.home)
        show_keeper_lines()
        serve_everything(settings, catalogue, out)
    except (RuntimeError, OSError) as exc:
        fail(str(exc), 1)
