"""`warroom alerts replay`: a saved payload posted to a running receiver, as its sender would."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail
from warroom.intake.formats import FORMAT_NAMES, FORMATS
from warroom.settings import get_settings

app = typer.Typer(help="The alert receiver.", no_args_is_help=True)


@app.command("replay")
def alerts_replay(
    file: Annotated[Path, typer.Argument(help="A saved alert payload (JSON)")],
    format_: Annotated[str, typer.Option("--format", help=", ".join(FORMAT_NAMES))],
    url: Annotated[
        str | None, typer.Option(help="Receiver base URL; default: what `warroom up` serves")
    ] = None,
) -> None:
    """Post a saved payload to a running receiver (runbook testing, game days); print its answer."""
    import httpx

    settings = get_settings()
    try:
        body = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    if format_ not in FORMATS:
        fail(f"unknown alert format {format_!r} (known: {', '.join(FORMAT_NAMES)})", 2)
    headers = {"Content-Type": "application/json", **FORMATS[format_].credentials(body, settings)}
    base = url or f"http://{settings.receiver_host}:{settings.receiver_port}"
    try:
        resp = httpx.post(f"{base.rstrip('/')}/alerts/{format_}", content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the receiver at {base}: {exc}", 1)
    sys.stdout.write(json.dumps(resp.json(), indent=2, sort_keys=True) + "\n")
    if resp.status_code >= 300:
        raise typer.Exit(1)
