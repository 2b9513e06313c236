"""`warroom incidents list|show`: incidents in the ledger and what their runs are doing."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import JSON_VERSION, columns, dump_json, err, fail, open_store, out, signer_or_code
from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import Incident, Role, Severity, Status
from warroom.ledger import Attempt, RunLedger, StoreError
from warroom.settings import get_settings
from warroom.timeline_rows import timeline_rows

app = typer.Typer(help="Incidents in the ledger.", no_args_is_help=True)


def incident_json(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json")


@app.command("list")
def incidents_list(
    status: Annotated[Status | None, typer.Option(help="Only this status")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first; 0 for all")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents, newest first."""
    store = open_store()
    statuses: Any = status
    if open_only:
        statuses = [s for s in Status if s.is_open and (status is None or s is status)]
    items = store.list_incidents(status=statuses, severity=severity, limit=limit or None)
    runs = RunLedger(store).latest_by_incident([i.number for i in items])
    if as_json:
        dump_json(
            {
                "version": JSON_VERSION,
                "incidents": [{**incident_json(i), "run": _run_json(runs.get(i.number))} for i in items],
            }
        )
        return
    rows = [
        [
            i.id,
            i.severity.value,
            i.status.value,
            runs[i.number].state.value if i.number in runs else "-",
            i.detected_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            i.roles.commander or "-",
            i.service or "-",
            i.title,
        ]
        for i in items
    ]
    sys.stdout.write(
        columns(["ID", "SEV", "STATUS", "RUN", "DETECTED", "COMMANDER", "SERVICE", "TITLE"], rows)
    )
    if not items:
        err.print("no incidents")
    elif limit and len(items) == limit:
        err.print(f"showing the newest {limit}; --limit 0 shows all")


def _run_json(attempt: Attempt | None) -> dict[str, Any] | None:
    if attempt is None:
        return None
    return {
        "flow_run_id": attempt.flow_run_id,
        "attempt": attempt.attempt,
        "state": attempt.state.value,
        "outcome": attempt.outcome,
    }


@app.command("show")
def incidents_show(
    incident_id: Annotated[str, typer.Argument(metavar="ID", help="INC-N")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One incident with its full timeline."""
    store = open_store()
    try:
        incident = store.get(incident_id)
        timeline = store.timeline(incident.number)
        items = store.action_items(incident.number)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    if as_json:
        dump_json(
            {
                "version": JSON_VERSION,
                "incident": incident_json(incident),
                "timeline": [e.model_dump(mode="json") for e in timeline],
                "action_items": [a.model_dump(mode="json") for a in items],
            }
        )
        return
    out.print(
        f"[bold]{incident.id}[/bold] {incident.severity.value} {incident.status.value}: {incident.title}",
        markup=True,
    )
    r = incident.roles
    out.print(
        f"commander: {r.commander or '-'}  comms: {r.comms_lead or '-'}  responders: "
        f"{', '.join(r.responders) or '-'}  SMEs: {', '.join(r.smes) or '-'}"
    )
    for label, value in (
        ("detected", incident.detected_at),
        ("acknowledged", incident.acknowledged_at),
        ("mitigated", incident.mitigated_at),
        ("resolved", incident.resolved_at),
        ("closed", incident.closed_at),
    ):
        if value is not None:
            took = incident.time_to_acknowledge_seconds if label == "acknowledged" else None
            after = (
                f" (time to acknowledge {format_duration(timedelta(seconds=took))})"
                if took is not None
                else ""
            )
            out.print(f"{label}: {value.strftime('%Y-%m-%d %H:%M:%SZ')}{after}")
    table = Table("#", "time", "kind", "actor", "what", box=None)
    for row in timeline_rows(timeline):
        e = row.event
        table.add_row(str(row.number), e.at.strftime("%H:%M:%S"), e.kind, e.actor, row.text)
    out.print(table)
    for a in items:
        out.print(
            f"action item {a.id} [{a.status.value}] {a.title} (owner {a.owner or '-'}, due {a.due or '-'})"
        )


# Who acts, proven as an acknowledgement is (`ack`, `incidents assign`): their key, or NAME and a code.
ProvenAs = Annotated[
    str | None,
    typer.Option("--as", help="With --code: your name as registered. With a key: must be its owner"),
]
KeyOption = Annotated[Path | None, typer.Option(help="Your signing key (default: WARROOM_KEY_FILE)")]
AckCode = Annotated[
    str | None, typer.Option(help="A code from your authenticator's 'Warroom acknowledge' entry")
]


def acknowledge(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    as_: ProvenAs = None,
    key: KeyOption = None,
    code: AckCode = None,
) -> None:
    """Take the incident: the first acknowledgement stops the time-to-acknowledge clock, and its author
    becomes incident commander when nobody commands it yet. Proven by your key, or an acknowledgement code."""
    from warroom.acknowledge import acknowledge as take_incident
    from warroom.acknowledge import prove_acknowledger

    signer, code = signer_or_code(key, as_, code, "acknowledgement code")
    store = open_store()
    try:
        identity = prove_acknowledger(
            store, get_settings(), incident_id, signer=signer, person=as_, code=code
        )
        person = signer.name if signer is not None else str(as_)
        if not identity.ok:
            store.append(
                incident_id,
                EventKind.INCIDENT_ACKNOWLEDGE_REFUSED,
                f"acknowledgement as {person} from the CLI refused: {identity.why}",
            )
            fail(f"{incident_id} not acknowledged: {identity.why}", 1)
        taken = take_incident(store, incident_id, person, via="cli")
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    incident = taken.incident
    when = incident.acknowledged_at
    out.print(
        f"{incident.id} acknowledged by {person}"
        if taken.first
        else f"{incident.id} was acknowledged before, at {when:%Y-%m-%d %H:%M:%S} UTC"
        if when is not None
        else f"{incident.id} was acknowledged before"
    )
    out.print(f"commander: {incident.roles.commander}")


def note(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    text: Annotated[str, typer.Argument(help="What you saw, did or decided, in your own words")],
    as_: Annotated[
        str | None, typer.Option("--as", help="Whose words (default: your login name; recorded, not proven)")
    ] = None,
) -> None:
    """Add a note to the incident's timeline: what you saw, tried or decided, for the people joining and
    for the post-mortem."""
    words = " ".join(text.split())
    if not words:
        fail("a note needs some words", 2)
    author = as_ or get_settings().user
    store = open_store()
    try:
        event = store.append(incident_id, EventKind.NOTE, words, actor=author)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"{event.incident}: noted by {author} at {event.at:%H:%M:%S} UTC")


@app.command("update")
def incidents_update(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    text: Annotated[str, typer.Argument(help="What stakeholders need to know now, in your words")],
    as_: Annotated[str, typer.Option("--as", help="The comms lead or the commander (recorded)")],
) -> None:
    """Record a stakeholder update (as `/warroom update` in the incident's room): the update cadence counts
    from it, and the room's reminders stop until the next one is due."""
    words = " ".join(text.split())
    if not words:
        fail("an update needs its words", 2)
    from warroom.chat.cadence import post_update

    store = open_store()
    try:
        event = post_update(store, incident_id, as_, words)
    except StoreError as exc:
        fail(str(exc), 1)
    except ValueError as exc:  # not the comms lead or the commander
        fail(f"{incident_id}: {exc}", 1)
    finally:
        store.close()
    out.print(f"{event.incident}: update recorded by {as_} at {event.at:%H:%M:%S} UTC")


@app.command("assign")
def incidents_assign(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    commander: Annotated[str | None, typer.Option(help="Incident commander (hands over command)")] = None,
    comms: Annotated[str | None, typer.Option(help="Communications lead")] = None,
    responder: Annotated[list[str] | None, typer.Option(help="A technical responder (repeatable)")] = None,
    sme: Annotated[list[str] | None, typer.Option(help="A subject-matter expert (repeatable)")] = None,
    force: Annotated[
        bool, typer.Option(help="Assign people no schedule or approver group knows (recorded)")
    ] = False,
    as_: ProvenAs = None,
    key: KeyOption = None,
    code: AckCode = None,
) -> None:
    """Assign roles on an incident. The commander assigns (anyone, while nobody commands); a new commander
    is a handover on the timeline. Proven as an acknowledgement is: your key, or an acknowledgement code."""
    from warroom.acknowledge import prove_acknowledger
    from warroom.roles import AssignmentRefused, Wanted, assign_roles, known_people

    wanted = [Wanted(Role.COMMANDER, commander)] if commander else []
    wanted += [Wanted(Role.COMMS_LEAD, comms)] if comms else []
    wanted += [Wanted(Role.RESPONDER, p) for p in responder or []] + [Wanted(Role.SME, p) for p in sme or []]
    if not wanted:
        fail("nothing to assign: give --commander, --comms, --responder or --sme", 2)
    signer, code = signer_or_code(key, as_, code, "acknowledgement code")
    settings = get_settings()
    store = open_store()
    try:
        identity = prove_acknowledger(store, settings, incident_id, signer=signer, person=as_, code=code)
        actor = signer.name if signer is not None else str(as_)
        if not identity.ok:
            fail(f"{incident_id}: roles not assigned: {identity.why}", 1)
        before = store.get(incident_id)
        incident = assign_roles(
            store, before.number, actor, wanted, known_people(store, settings, before), force=force
        )
    except AssignmentRefused as exc:
        fail(f"{incident_id}: roles not assigned: {exc}", 1)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    r = incident.roles
    out.print(
        f"{incident.id} commander {r.commander or '-'}, comms {r.comms_lead or '-'}, "
        f"responders {', '.join(r.responders) or '-'}, SMEs {', '.join(r.smes) or '-'}"
    )


@app.command("severity")
def incidents_severity(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    level: Annotated[Severity, typer.Argument(help="P1, P2, P3 or P4")],
    reason: Annotated[str, typer.Option(help="Why (recorded)")],
    as_: Annotated[str, typer.Option("--as", help="Who changes it (recorded)")],
) -> None:
    """Change an incident's severity; the policy of the new level applies (updates, audience, paging)."""
    from flows.paging import change_severity

    store = open_store()
    try:
        before, incident = change_severity(
            get_settings(), store, incident_id, level, actor=as_, reason=reason
        )
        pages = store.pages(incident.number)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"{incident.id} severity {before.severity.value} -> {incident.severity.value}")
    if pages and pages[-1].state.value == "open":
        out.print(f"paged {pages[-1].person or 'nobody'} as {pages[-1].target}")
