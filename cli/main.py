"""The ``warroom`` command line: the command groups composed into one app, each imported only when used.

A command's module is imported when that command runs (or its own ``--help`` is asked for): ``warroom
--help`` reads the one-line summaries below and imports no command at all, and ``warroom incidents list``
imports the ledger but not the demo's sandbox, the runbook engine or Prefect.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import typer
from typer._click.core import Command  # typer carries its own click: the type its groups speak
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command (``module:function``) or command group (``module:typer_app``), and its line in ``--help``."""

    target: str
    summary: str
    also: dict[str, str] = field(default_factory=dict)  # commands of another module added to a group


COMMANDS: dict[str, Lazy] = {
    "ack": Lazy(
        "cli.incidents:acknowledge", "Take the incident: stop the time-to-acknowledge clock, command it."
    ),
    "note": Lazy("cli.incidents:note", "Add a note to an incident's timeline."),
    "approve": Lazy("cli.approving:approve", "Answer the approval gate waiting on an incident."),
    "run": Lazy("cli.running:run", "Start a runbook and follow its incident live."),
    "up": Lazy(
        "cli.running:up", "Start everything on the embedded defaults: Prefect, the receiver, the runbooks."
    ),
    "deploy": Lazy(
        "cli.scaling:deploy", "Register every valid runbook on a work pool of the Prefect server."
    ),
    "receiver": Lazy("cli.scaling:receiver", "The alert receiver alone, launching into the Prefect server."),
    "worker": Lazy("cli.scaling:worker", "Run the pool's flow runs on this machine, in this environment."),
    "demo": Lazy("cli.demo:demo", "Play a bad deploy end to end in a sandbox."),
    "gameday": Lazy("cli.gameday:gameday", "Replay saved alerts and score what the runbooks would do."),
    "settings": Lazy(
        "cli.settings:settings", "Every WARROOM_ setting: its variable, default and what it does."
    ),
    "runbooks": Lazy("cli.runbooks:app", "Validate, list and show runbooks."),
    "incidents": Lazy("cli.incidents:app", "Incidents in the ledger.", {"resolve": "cli.postmortem:resolve"}),
    "steps": Lazy("cli.steps:app", "The steps runbooks may use."),
    "actions": Lazy("cli.actions:app", "Action items incidents leave behind."),
    "approvers": Lazy(
        "cli.approving:approvers", "Approvers: keys made on their own machines, registered here."
    ),
    "alerts": Lazy("cli.alerts:app", "The alert receiver."),
    "oncall": Lazy("cli.oncall:app", "On-call schedules: who is on call, overrides, calendar, load."),
    "postmortem": Lazy("cli.postmortem:app", "Blameless post-mortems drafted from the timeline."),
    "status": Lazy("cli.status:app", "The public status page and the leadership summaries."),
    "report": Lazy("cli.report:report", "How incident response went over a period, beside the one before."),
}


def _attribute(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def load(name: str) -> Command:
    """The click command for ``name``, its module imported now."""
    entry = COMMANDS[name]
    found = _attribute(entry.target)
    if isinstance(found, typer.Typer):
        known = {c.name for c in found.registered_commands}
        for extra, target in entry.also.items():
            if extra not in known:
                found.command(extra)(_attribute(target))
        command: Command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    command.short_help = entry.summary
    return command


class LazyGroup(TyperGroup):
    """Lists the commands from their summaries; imports one only to run it or show its own help."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Command | None:  # type: ignore[override]
        entry = COMMANDS.get(cmd_name)
        return None if entry is None else TyperCommand(cmd_name, short_help=entry.summary)

    def resolve_command(  # type: ignore[override]
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return name, (load(name) if name is not None and command is not None else command), rest


app = typer.Typer(cls=LazyGroup, no_args_is_help=True, add_completion=False)


@app.callback()
def warroom() -> None:
    """Incident-response runbooks on Prefect."""
    # Here, not at import: `warroom --help` reads no settings and stays fast.
    from warroom.home import use_local_prefect_auth
    from warroom.settings import SettingsError, get_settings

    try:
        use_local_prefect_auth(get_settings())
    except SettingsError:
        raise
    except ValueError:
        pass  # the command that needs them says so


def main() -> None:
    # Everything Warroom writes (ledger, Prefect's database, keys, tokens) is its owner's alone.
    os.umask(0o077)
    try:
        app()
    except Exception as exc:
        if _refused_by_prefect(exc):
            sys.stderr.write(
                f"error: the Prefect server at {os.environ.get('PREFECT_API_URL', '?')} refused this login "
                "(401): give PREFECT_API_AUTH_STRING, or run where `warroom up` runs with the same "
                "WARROOM_HOME\n"
            )
            raise SystemExit(1) from None
        if not isinstance(exc, ValueError):
            raise
        from warroom.settings import SettingsError

        if not isinstance(exc, SettingsError):
            raise
        # A bad setting is one line per variable, never a traceback, whatever the command.
        sys.stderr.write("".join(f"error: {line}\n" for line in str(exc).splitlines()))
        raise SystemExit(2) from None


def _refused_by_prefect(exc: BaseException) -> bool:
    """A 401 from the Prefect API, however deep in the command it came."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.HTTPStatusError) and seen.response.status_code == 401:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


if __name__ == "__main__":
    main()
