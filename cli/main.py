"""The ``warroom`` command line: the command groups composed into one app."""

from __future__ import annotations

import os
import sys

import typer

from cli import (
    actions,
    alerts,
    approving,
    demo,
    gameday,
    incidents,
    oncall,
    postmortem,
    runbooks,
    running,
    scaling,
    settings,
    steps,
)
from warroom.home import use_local_prefect_auth
from warroom.settings import SettingsError, get_settings

app = typer.Typer(help="Incident-response runbooks on Prefect.", no_args_is_help=True, add_completion=False)
app.add_typer(runbooks.app, name="runbooks")
app.add_typer(incidents.app, name="incidents")
app.add_typer(steps.app, name="steps")
app.command("ack")(incidents.acknowledge)
app.add_typer(actions.app, name="actions")
app.add_typer(approving.approvers, name="approvers")
app.command("approve")(approving.approve)
app.command("run")(running.run)
app.command("up")(running.up)
app.command("deploy")(scaling.deploy)
app.command("receiver")(scaling.receiver)
app.command("worker")(scaling.worker)
app.command("demo")(demo.demo)
app.command("gameday")(gameday.gameday)
app.add_typer(alerts.app, name="alerts")
app.add_typer(oncall.app, name="oncall")
app.add_typer(postmortem.app, name="postmortem")
app.command("settings")(settings.settings)
incidents.app.command("resolve")(postmortem.resolve)


def main() -> None:
    # Everything Warroom writes (ledger, Prefect's database, keys, tokens) is its owner's alone.
    os.umask(0o077)
    try:
        use_local_prefect_auth(get_settings())
    except SettingsError as exc:
        # A bad setting is one line per variable, never a traceback, whatever the command.
        sys.stderr.write("".join(f"error: {line}\n" for line in str(exc).splitlines()))
        raise SystemExit(2) from None
    except ValueError:
        pass  # the command that needs them says so
    try:
        app()
    except SettingsError as exc:
        sys.stderr.write("".join(f"error: {line}\n" for line in str(exc).splitlines()))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
