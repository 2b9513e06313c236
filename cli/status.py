"""`warroom status`: the public status page and the leadership summaries. Who publishes or sends is the
comms lead or the commander, proven as for assigning roles: their own key, or an acknowledgement code.

Flows are imported inside the commands: importing Prefect reads its settings, and the CLI gives them the
local server's login first (cli/main.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import click
import typer

from cli.common import dump_json, fail, open_store, out, signer_or_code
from cli.incidents import AckCode, KeyOption, ProvenAs
from warroom.ledger import Store, StoreError
from warroom.settings import get_settings
from warroom.status.model import ComponentState, PublicState

app = typer.Typer(help="The public status page and the leadership summaries.", no_args_is_help=True)
Incident = Annotated[str, typer.Argument(metavar="INC-N")]


def _proven(store: Store, incident_id: str, as_: str | None, key: Path | None, code: str | None) -> str:
    from warroom.acknowledge import prove_acknowledger

    signer, code = signer_or_code(key, as_, code, "acknowledgement code")
    identity = prove_acknowledger(store, get_settings(), incident_id, signer=signer, person=as_, code=code)
    if not identity.ok:
        fail(f"{incident_id}: {identity.why}", 1)
    return signer.name if signer is not None else str(as_)


def _components(given: list[str] | None) -> dict[str, ComponentState]:
    found: dict[str, ComponentState] = {}
    for item in given or []:
        name, sep, state = item.rpartition("=")
        try:
            found[name] = ComponentState(state)
        except ValueError:
            known = ", ".join(s.value for s in ComponentState)
            fail(f"--component takes NAME=STATE with STATE one of {known}, not {item!r}", 2)
        if not sep or not name:
            fail(f"--component takes NAME=STATE, not {item!r}", 2)
    return found


@app.command("draft")
def draft(
    incident_id: Incident,
    state: Annotated[PublicState, typer.Option(help="The update's state")] = PublicState.INVESTIGATING,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Warroom's draft of the next public update (service, impact, started, the cadence's next update), for
    you to edit and post with `warroom status post`."""
    from flows.status_page import draft_for

    store = open_store()
    try:
        d = draft_for(store, get_settings(), incident_id, state)
    except StoreError as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    if as_json:
        dump_json(
            {
                "title": d.title,
                "state": d.state.value,
                "text": d.text,
                "components": {c: s.value for c, s in d.components.items()},
                "started_at": d.started_at.isoformat(),
            }
        )
        return
    out.print(f"title: {d.title}\nstate: {d.state.value}")
    out.print("components: " + ", ".join(f"{c}={s.value}" for c, s in d.components.items()))
    out.print(f"\n{d.text}")


@app.command("post")
def post(
    incident_id: Incident,
    text: Annotated[
        str | None, typer.Argument(help="Your words for the public page (none: edit Warroom's draft)")
    ] = None,
    state: Annotated[PublicState, typer.Option(help="investigating, identified, monitoring or resolved")] = (
        PublicState.INVESTIGATING
    ),
    title: Annotated[
        str | None, typer.Option(help="The public incident's name (default: the draft's)")
    ] = None,
    component: Annotated[
        list[str] | None,
        typer.Option(help="NAME=STATE over the severity's impact, e.g. Checkout=partial_outage (repeatable)"),
    ] = None,
    as_: ProvenAs = None,
    key: KeyOption = None,
    code: AckCode = None,
) -> None:
    """Publish the public incident's next update, on Warroom's own page and the vendor's in settings. By the
    comms lead or the commander; every post is on the timeline."""
    from flows.status_page import StatusRefused, draft_for, publish_status

    states = _components(component)
    store = open_store()
    try:
        person = _proven(store, incident_id, as_, key, code)
        if text is None:
            edited = click.edit(draft_for(store, get_settings(), incident_id, state).text)
            if not edited or not edited.strip():
                fail("nothing published: the draft came back empty", 1)
            text = edited
        done = publish_status(
            store, get_settings(), incident_id, person, state, text, title=title, components=states
        )
    except StatusRefused as exc:
        fail(str(exc), 1)
    except StoreError as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    p = done.post
    due = f"; next update due {p.next_update_at:%H:%M} UTC" if p.next_update_at else ""
    out.print(f"INC-{p.incident}: {p.state.value} published by {p.author} at {p.posted_at:%H:%M:%S} UTC{due}")
    if done.vendor:
        out.print(done.vendor)


@app.command("summary")
def summary(incident_id: Incident, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The leadership summary's draft (impact, customer impact, business impact, ETA, what we are doing,
    next update) and who it goes to: edit it into a file and send it with `warroom status send --file`."""
    from flows.stakeholders import draft_summary
    from tasks.stakeholders import StakeholderSettings, shown

    store = open_store()
    try:
        d = draft_summary(store, get_settings(), incident_id)
    except StoreError as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    audiences = get_settings().of(StakeholderSettings).audiences
    to = {a: [shown(x) for x in audiences.get(a, [])] for a in d.audience}  # webhook tokens elided
    if as_json:
        dump_json({"subject": d.subject, "body": d.body, "audience": to})
        return
    out.print(f"Subject: {d.subject}")
    for a, addresses in to.items():
        out.print(f"To {a}: {', '.join(addresses) or '(no addresses: WARROOM_STAKEHOLDERS_AUDIENCES)'}")
    out.print(f"\n{d.body}")


@app.command("send")
def send(
    incident_id: Incident,
    file: Annotated[
        Path | None, typer.Option(help="Your edit of the summary's body (default: the draft as it is)")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="The subject (default: the draft's)")] = None,
    as_: ProvenAs = None,
    key: KeyOption = None,
    code: AckCode = None,
) -> None:
    """Send the leadership summary to the audience the severity names (email, Slack channels, apprise
    URLs): by the comms lead or the commander; what went where is on the timeline."""
    from flows.stakeholders import SummaryRefused, send_summary

    body = None
    if file is not None:
        try:
            body = file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}", 2)
    store = open_store()
    try:
        person = _proven(store, incident_id, as_, key, code)
        sent = send_summary(store, get_settings(), incident_id, person, subject=subject, body=body)
    except SummaryRefused as exc:
        fail(str(exc), 1)
    except StoreError as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    reached = [d.address for d in sent.deliveries if d.ok]
    out.print(f"{incident_id}: summary sent to {len(reached)} address(es): {', '.join(reached) or 'none'}")
    for d in sent.failed:
        out.print(f"not delivered to {d.address}: {d.error}")
    for a in sent.unknown:
        out.print(f"audience {a} has no addresses: set it in WARROOM_STAKEHOLDERS_AUDIENCES")
    if not reached:
        raise typer.Exit(1)


@app.command("maintenance")
def maintenance(
    title: Annotated[str, typer.Argument(help="What the maintenance is, for the public page")],
    component: Annotated[list[str], typer.Option(help="A component it affects (repeatable)")],
    start: Annotated[datetime, typer.Option("--from", help="When it starts (UTC, ISO 8601)")],
    end: Annotated[datetime, typer.Option("--to", help="When it ends (UTC, ISO 8601)")],
    text: Annotated[str, typer.Option(help="What customers should expect")] = "",
    key: KeyOption = None,
) -> None:
    """Schedule maintenance on the public page, signed with your own key."""
    from cli.common import own_signer
    from warroom.identity import check_signature
    from warroom.ledger.engine import utc

    begins, ends = utc(start), utc(end)
    if begins is None or ends is None or ends <= begins:
        fail("--to must come after --from", 2)
    signer = own_signer(key, None, required=True)
    assert signer is not None
    message = json.dumps(
        {"v": 1, "purpose": "maintenance", "title": title, "person": signer.name, "from": begins.isoformat()},
        sort_keys=True,
    ).encode()
    store = open_store()
    try:
        identity = check_signature(store, signer.name, message, signer.sign(message))
        if not identity.ok:
            fail(f"maintenance not scheduled: {identity.why}", 1)
        made = store.add_maintenance(title, text, component, begins, ends, signer.name)
    finally:
        store.close()
    out.print(f"maintenance {made.id} scheduled: {made.title}, {begins:%Y-%m-%d %H:%M} to {ends:%H:%M} UTC")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8090,
) -> None:
    """Serve the public status page alone (`warroom up` serves it at the receiver's /status/ too)."""
    import uvicorn

    from warroom.status.web import status_app

    store = open_store()
    out.print(f"status page on http://{host}:{port}/ (index.json, feed.atom)")
    try:
        uvicorn.run(status_app(store, get_settings()), host=host, port=port, log_level="warning")
    finally:
        store.close()
