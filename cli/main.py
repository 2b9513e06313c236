"""The ``warroom`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from warroom.duration import format_duration
from warroom.incident import Incident, Severity, Status
from warroom.intake.formats import FORMAT_NAMES, FORMATS
from warroom.ledger import Attempt, RunLedger, Store, StoreError
from warroom.runbook import Catalogue, load_catalogue
from warroom.settings import get_settings

app = typer.Typer(help="Incident-response runbooks on Prefect.", no_args_is_help=True, add_completion=False)
runbooks_app = typer.Typer(help="Validate, list and show runbooks.", no_args_is_help=True)
incidents_app = typer.Typer(help="Incidents in the ledger.", no_args_is_help=True)
steps_app = typer.Typer(help="The steps runbooks may use.", no_args_is_help=True)
app.add_typer(runbooks_app, name="runbooks")
app.add_typer(incidents_app, name="incidents")
app.add_typer(steps_app, name="steps")

out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

JSON_VERSION = 1


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _store() -> Store:
    try:
        return Store.from_settings()
    except StoreError as exc:
        fail(str(exc))


def _catalogue(paths: list[Path] | None) -> Catalogue:
    return load_catalogue(paths or [get_settings().runbooks_dir])


def _dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


# --- runbooks ------------------------------------------------------------------------------------------


@runbooks_app.command("validate")
def runbooks_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories; default: the runbooks dir")
    ] = None,
) -> None:
    """Validate runbooks: exit 0 when all are valid, else 1 with one FILE:LINE: field: message per problem."""
    catalogue = _catalogue(paths)
    for problem in catalogue.problems:
        sys.stdout.write(f"{problem}\n")
    if catalogue.problems:
        raise typer.Exit(1)
    if not catalogue.runbooks:
        fail("no runbooks found", 1)
    err.print(f"{len(catalogue.runbooks)} runbook(s) valid")


@runbooks_app.command("list")
def runbooks_list(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The runbooks, in the order they are matched against alerts."""
    catalogue = _catalogue(paths)
    rows = catalogue.ordered()
    if as_json:
        _dump_json(
            {
                "version": JSON_VERSION,
                "runbooks": [
                    {
                        "name": r.runbook.name,
                        "path": str(r.path),
                        "priority": r.runbook.priority,
                        "description": r.runbook.description.strip(),
                        "match": [str(m) for m in r.runbook.match],
                        "diagnostics": [d.use for d in r.runbook.diagnostics],
                        "mitigations": [m.use for m in r.runbook.mitigations],
                    }
                    for r in rows
                ],
                "problems": [str(p) for p in catalogue.problems],
            }
        )
    else:
        table = Table("name", "priority", "match", "diagnostics", "mitigations", box=None)
        for r in rows:
            rb = r.runbook
            table.add_row(
                rb.name,
                str(rb.priority),
                " ".join(str(m) for m in rb.match) or "(manual only)",
                ", ".join(d.use for d in rb.diagnostics),
                ", ".join(m.use for m in rb.mitigations),
            )
        out.print(table)
        for problem in catalogue.problems:
            err.print(f"[yellow]invalid:[/yellow] {problem}", markup=True)
    if catalogue.problems:
        raise typer.Exit(1)


@runbooks_app.command("show")
def runbooks_show(
    name: str,
    paths: Annotated[list[Path] | None, typer.Option("--path", help="Files or directories")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What a runbook does, step by step, without running it."""
    catalogue = _catalogue(paths)
    loaded = catalogue.runbooks.get(name)
    if loaded is None:
        fail(f"no valid runbook named {name!r} (known: {', '.join(catalogue.runbooks) or 'none'})", 1)
    rb = loaded.runbook
    if as_json:
        _dump_json(
            {"version": JSON_VERSION, "path": str(loaded.path), **rb.model_dump(mode="json", by_alias=True)}
        )
        return
    out.print(f"[bold]{rb.name}[/bold]  ({loaded.path})", markup=True)
    out.print(rb.description.strip())
    out.print(f"match: {' '.join(str(m) for m in rb.match) or '(manual only)'}   priority: {rb.priority}")
    if rb.severity:
        out.print("severity: " + "; ".join(f"{r.level.value} when {r.when or 'always'}" for r in rb.severity))
    if rb.params:
        out.print("params:")
        for pname, spec in rb.params.items():
            src = f" from {spec.from_}" if spec.from_ else ""
            default = f" default {spec.default!r}" if spec.default is not None else ""
            out.print(f"  {pname}: {spec.type.value}{src}{default}")
    for title, calls in (("diagnostics (in parallel)", rb.diagnostics), ("verify", rb.verify)):
        if calls:
            out.print(f"{title}:")
            for c in calls:
                out.print(f"  {c.id or '-'}: {c.use} {json.dumps(c.with_, default=str)}")
    if rb.mitigations:
        out.print("mitigations (each needs approval):")
        for m in rb.mitigations:
            who = ", ".join(
                f"user {a.user}" if a.user else f"group {a.group}" if a.group else f"on-call {a.oncall}"
                for a in m.approval.approvers
            )
            out.print(f"  {m.id}: {m.use} {json.dumps(m.with_, default=str)}")
            out.print(f"    when: {m.when or 'always'}")
            eyes = "on" if m.approval.four_eyes else "off"
            out.print(
                f"    approval: {m.approval.required} of [{who}], four-eyes {eyes},"
                f" timeout {format_duration(m.approval.timeout)}"
            )


# --- steps -------------------------------------------------------------------------------------------


@steps_app.command("list")
def steps_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every step a runbook may `use:`, with its kind and whether this build runs it."""
    from warroom.steps import all_steps
    from warroom.steps_view import describe, result_kind

    steps = all_steps()
    if as_json:
        _dump_json({"version": JSON_VERSION, "steps": [describe(s) for s in steps.values()]})
        return
    rows = [
        [s.name, s.kind.value, result_kind(s), "yes" if s.implemented else "NO (declared)", s.summary]
        for s in steps.values()
    ]
    sys.stdout.write(columns(["STEP", "KIND", "RESULT", "RUNS", "SUMMARY"], rows))


@steps_app.command("show")
def steps_show(
    name: Annotated[str, typer.Argument(help="Step name, e.g. kubernetes.rollback")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One step: what it does, its params (types, defaults) and the result fields runbooks can read."""
    from warroom.steps import all_steps, get_step
    from warroom.steps_view import describe

    spec = get_step(name)
    if spec is None:
        fail(f"no step named {name!r} (known: {', '.join(all_steps())})", 1)
    info = describe(spec)
    if as_json:
        _dump_json({"version": JSON_VERSION, "step": info})
        return
    out.print(f"{spec.name} ({spec.kind.value}{'' if spec.implemented else ', declared: not in this build'})")
    out.print(f"  {spec.summary}")
    if spec.kind.value == "mitigation":
        out.print(f"  dry run: {'yes' if info['dry_run'] else 'no'}; runs only after an approval")
    out.print("params:")
    for f in info["params"]:
        need = "required" if f["required"] else f"default {f['default']!r}"
        out.print(f"  {f['name']}: {f['type']} ({need}){'  ' + f['description'] if f['description'] else ''}")
    out.print(f"result ({info['result']['kind']}), readable in when:/expect: as <id>.<field>:")
    for f in info["result"]["fields"]:
        out.print(f"  {f['name']}: {f['type']}{'  ' + f['description'] if f['description'] else ''}")


# --- incidents -----------------------------------------------------------------------------------------


def incident_json(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json")


@incidents_app.command("list")
def incidents_list(
    status: Annotated[Status | None, typer.Option(help="Only this status")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first; 0 for all")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents, newest first."""
    store = _store()
    statuses: Any = status
    if open_only:
        statuses = [s for s in Status if s.is_open and (status is None or s is status)]
    items = store.list_incidents(status=statuses, severity=severity, limit=limit or None)
    runs = RunLedger(store).latest_by_incident([i.number for i in items])
    if as_json:
        _dump_json(
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


def columns(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns, like kubectl get: fast for thousands of rows and easy to grep."""
    widths = [max([len(h)] + [len(r[n]) for r in rows]) for n, h in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


@incidents_app.command("show")
def incidents_show(
    incident_id: Annotated[str, typer.Argument(metavar="ID", help="INC-N")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One incident with its full timeline."""
    store = _store()
    try:
        incident = store.get(incident_id)
        timeline = store.timeline(incident.number)
        items = store.action_items(incident.number)
    except (StoreError, ValueError) as exc:
        fail(str(exc), 1)
    if as_json:
        _dump_json(
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
            out.print(f"{label}: {value.strftime('%Y-%m-%d %H:%M:%SZ')}")
    table = Table("time", "kind", "actor", "what", box=None)
    for e in timeline:
        table.add_row(e.at.strftime("%H:%M:%S"), e.kind, e.actor, e.text)
    out.print(table)
    for a in items:
        out.print(
            f"action item {a.id} [{a.status.value}] {a.title} (owner {a.owner or '-'}, due {a.due or '-'})"
        )


# --- running and approving ----------------------------------------------------------------------------

approvers_app = typer.Typer(help="Approvers and their one-time codes.", no_args_is_help=True)
app.add_typer(approvers_app, name="approvers")


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    """``key=value`` options; values are JSON when they parse as JSON (``6`` is a number), else text."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{what} takes key=value, not {item!r}", 2)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@approvers_app.command("enroll")
def approvers_enroll(
    name: str,
    replace: Annotated[
        bool, typer.Option("--replace", help="Issue a new secret (the old one stops working)")
    ] = False,
) -> None:
    """Create NAME's one-time-code secret and print the URI to add to an authenticator app (shown once)."""
    from flows.approval import EnrollmentError, enroll

    try:
        uri = enroll(name, replace=replace)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(f"Add this to {name}'s authenticator app (it is shown once, and never logged):")
    sys.stdout.write(uri + "\n")


@app.command("approve")
def approve(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    as_: Annotated[str, typer.Option("--as", help="Your name as enrolled")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the timeline")],
    proposal: Annotated[str | None, typer.Option(help="Which proposal, when several wait")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Adjust a param: key=value")] = None,
    code: Annotated[str | None, typer.Option(help="One-time code (asked for when missing)")] = None,
) -> None:
    """Answer the approval gate waiting on an incident; print whether the answer counted and why."""
    from flows.answer import GateError, answer_gate

    store = _store()
    otp = code or typer.prompt(f"one-time code for {as_}", hide_input=True)
    try:
        outcome = answer_gate(
            store,
            incident_id.upper(),
            approver=as_,
            code=otp,
            reason=reason,
            decision="reject" if reject else "approve",
            proposal=proposal,
            adjust=_pairs(set_, "--set"),
        )
    except GateError as exc:
        fail(str(exc), 1)
    out.print(f"{incident_id.upper()} {outcome.proposal}: {outcome.verdict}: {outcome.text}")
    if outcome.verdict not in ("granted", "rejected"):
        raise typer.Exit(3)


@app.command("run")
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
    catalogue = _catalogue(None)
    if name not in catalogue.runbooks:
        fail(f"no valid runbook named {name!r} (known: {', '.join(catalogue.runbooks) or 'none'})", 2)
    alert_data: dict[str, Any] | None = None
    if alert is not None:
        try:
            alert_data = json.loads(alert.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"cannot read the alert {alert}: {exc}", 2)
    from contextlib import ExitStack

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with ExitStack() as stack:
        if not PREFECT_API_URL.value():
            if not local:
                fail(
                    "no Prefect API configured: start `warroom up` and set PREFECT_API_URL, or use --local", 2
                )
            from deployments.serve import local_prefect_server

            try:
                api = stack.enter_context(local_prefect_server(settings))
            except RuntimeError as exc:
                fail(str(exc), 1)
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api}))
            out.print(
                f"started a Prefect server for this run; from another terminal: export PREFECT_API_URL={api}"
            )
        code = run_and_follow(
            _store(),
            catalogue.runbooks[name].runbook,
            params=_pairs(param, "--param"),
            alert=alert_data,
            requested_by=as_ or settings.user,
            local=local,
            console=out,
        )
    raise typer.Exit(code)


@app.command("up")
def up() -> None:
    """Start everything on the embedded defaults: Prefect server (unless one is configured) and every runbook
    served as a deployment. Ctrl-C stops what it started."""
    from deployments.serve import serve_everything

    catalogue = _catalogue(None)
    for problem in catalogue.problems:
        err.print(f"not served: {problem}")
    if not catalogue.runbooks:
        fail("no valid runbooks to serve", 1)
    try:
        serve_everything(get_settings(), catalogue, out)
    except RuntimeError as exc:
        fail(str(exc), 1)


alerts_app = typer.Typer(help="The alert receiver.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("replay")
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
