"""`warroom postmortem show|edit|done`, and resolving by hand: the blameless post-mortem of an incident.

Flows are imported inside the commands: importing Prefect reads its settings, and the CLI gives them the
local server's login first (cli/main.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Annotated, Any

import typer

from cli.common import fail, open_store, out
from warroom.events import EventKind
from warroom.incident import Status
from warroom.ledger import Store, StoreError
from warroom.postmortem.files import path_for, unfinished
from warroom.settings import get_settings

app = typer.Typer(help="Blameless post-mortems drafted from the timeline.", no_args_is_help=True)
Incident = Annotated[str, typer.Argument(metavar="INC-N")]


def _learn(store: Store, ref: str | int) -> Any:
    from flows.postmortem import learn

    return learn(get_settings(), store, ref)


def _document(store: Store, incident_id: str) -> str:
    settings = get_settings()
    incident = store.get(incident_id)
    if incident.status not in (Status.RESOLVED, Status.CLOSED):
        fail(f"{incident.id} is {incident.status.value}: its post-mortem is drafted once it is resolved", 1)
    path = path_for(settings, incident)
    if not path.exists():
        _learn(store, incident.number)
    return path.read_text(encoding="utf-8")


@app.command("show")
def postmortem_show(incident_id: Incident) -> None:
    """Print the post-mortem (drafted now if it was not yet)."""
    store = open_store()
    try:
        text = _document(store, incident_id)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(text, soft_wrap=True)


@app.command("draft")
def postmortem_draft(incident_id: Incident) -> None:
    """Draft again from the ledger (sections the team edited are kept), and bring the tracker up to date."""
    store = open_store()
    try:
        learned = _learn(store, incident_id)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"drafted {learned.path}; review on {learned.review}")
    for line in learned.tracked:
        out.print(line)


@app.command("edit")
def postmortem_edit(
    incident_id: Incident, as_: Annotated[str, typer.Option("--as", help="Who edits it (recorded)")]
) -> None:
    """Open the post-mortem in $EDITOR; what you write in a section is kept by every later re-draft."""
    store = open_store()
    try:
        before = _document(store, incident_id)
        incident = store.get(incident_id)
        path = path_for(get_settings(), incident)
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if done.returncode != 0:
            fail(f"{editor} exited with {done.returncode}; the file is as it was left", 1)
        if path.read_text(encoding="utf-8") != before:
            store.append(
                incident.number, EventKind.POSTMORTEM_EDITED, f"post-mortem edited by {as_}", actor=as_
            )
            out.print(f"saved {path}")
        else:
            out.print("no change")
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()


@app.command("done")
def postmortem_done(
    incident_id: Incident,
    as_: Annotated[str, typer.Option("--as", help="Who closes it (recorded)")],
    force: Annotated[bool, typer.Option(help="Close it even with sections left blank")] = False,
) -> None:
    """The review is over: the incident moves to closed. Refused while sections still hold blanks."""
    store = open_store()
    try:
        text = _document(store, incident_id)
        blank = unfinished(text)
        if blank and not force:
            fail(
                f"still to fill in: {', '.join(blank)} (warroom postmortem edit {incident_id}; or --force)", 1
            )
        incident = store.set_status(
            incident_id,
            Status.CLOSED,
            actor=as_,
            text=f"post-mortem done ({as_})" + (", blanks left" if blank else ""),
        )
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"{incident.id} is closed")


def resolve(
    incident_id: Incident,
    as_: Annotated[str, typer.Option("--as", help="Who resolves it (recorded)")],
    reason: Annotated[str, typer.Option(help="Why it is resolved")] = "resolved by hand",
) -> None:
    """Resolve an incident by hand; its post-mortem is drafted and its follow-ups tracked as for a run."""
    from flows.postmortem import resolve_by_hand

    store = open_store()
    try:
        learned = resolve_by_hand(get_settings(), store, incident_id, actor=as_, reason=reason)
        incident = store.get(incident_id)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"{incident.id} is resolved; post-mortem drafted at {learned.path}; review on {learned.review}")
    for line in learned.tracked:
        out.print(line)
