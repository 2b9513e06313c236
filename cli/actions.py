"""`warroom actions add|list|done`: what incidents leave to do, with owners and due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from cli.common import JSON_VERSION, columns, dump_json, fail, open_store, out
from warroom.incident import ActionItem, ActionItemStatus
from warroom.ledger import StoreError

app = typer.Typer(help="Action items incidents leave behind.", no_args_is_help=True)


def _overdue(item: ActionItem, today: date) -> bool:
    return item.status is ActionItemStatus.OPEN and item.due is not None and item.due < today


@app.command("add")
def actions_add(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    title: Annotated[str, typer.Argument(help="What is to be done")],
    as_: Annotated[str, typer.Option("--as", help="Who adds it (recorded)")],
    owner: Annotated[str | None, typer.Option(help="Who will do it")] = None,
    due: Annotated[str | None, typer.Option(help="Due date, YYYY-MM-DD")] = None,
) -> None:
    """Add an action item to an incident; recorded on its timeline."""
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        fail(f"--due takes a date as YYYY-MM-DD, not {due!r}", 2)
    store = open_store()
    try:
        item = store.add_action_item(incident_id, title, owner=owner, due=due_date, actor=as_)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    out.print(f"action item {item.id} on {item.incident}: {item.title}")


@app.command("list")
def actions_list(
    incident_id: Annotated[str | None, typer.Option("--incident", metavar="INC-N")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only items not done yet")] = False,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open items past their due date")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Action items, oldest first; overdue ones are flagged."""
    store = open_store()
    try:
        items = store.action_items(
            incident_id, status=ActionItemStatus.OPEN if open_only or overdue else None
        )
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    today = datetime.now(UTC).date()
    if overdue:
        items = [i for i in items if _overdue(i, today)]
    if as_json:
        dump_json(
            {
                "version": JSON_VERSION,
                "action_items": [{**i.model_dump(mode="json"), "overdue": _overdue(i, today)} for i in items],
            }
        )
        return
    rows = [
        [
            str(i.id),
            i.incident,
            i.status.value + (" OVERDUE" if _overdue(i, today) else ""),
            i.owner or "-",
            str(i.due or "-"),
            i.title,
        ]
        for i in items
    ]
    out.print(
        columns(["ID", "INCIDENT", "STATUS", "OWNER", "DUE", "TITLE"], rows) if rows else "no action items"
    )


@app.command("done")
def actions_done(
    item_id: Annotated[int, typer.Argument(metavar="ID")],
    as_: Annotated[str, typer.Option("--as", help="Who closes it (recorded)")],
    cancel: Annotated[bool, typer.Option("--cancel", help="Close it as not to be done")] = False,
) -> None:
    """Close an action item as done (or cancelled); recorded on its incident's timeline."""
    store = open_store()
    status = ActionItemStatus.CANCELLED if cancel else ActionItemStatus.DONE
    try:
        item = store.update_action_item(item_id, status=status, actor=as_)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    out.print(f"action item {item.id} on {item.incident}: {item.status.value}")


@app.command("sync")
def actions_sync(
    incident_id: Annotated[str | None, typer.Option("--incident", metavar="INC-N")] = None,
) -> None:
    """Bring the tracker up to date: open what is not tracked yet, read back what was done there."""
    from flows.tracking import sync, sync_all
    from warroom.settings import get_settings

    store = open_store()
    try:
        settings = get_settings()
        synced = sync(settings, store, incident_id) if incident_id else sync_all(settings, store)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print("\n".join(synced.lines) if synced.lines else "tracker up to date")
    if synced.failed:
        fail(f"the tracker refused {synced.failed} change(s); each is on its incident's timeline", 1)
