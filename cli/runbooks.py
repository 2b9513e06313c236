"""`warroom runbooks validate|list|show`: what a runbook author reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import JSON_VERSION, catalogue_of, dump_json, err, fail, out
from warroom.duration import format_duration

app = typer.Typer(help="Validate, list and show runbooks.", no_args_is_help=True)


@app.command("validate")
def runbooks_validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories; default: the runbooks dir")
    ] = None,
) -> None:
    """Validate runbooks: exit 0 when all are valid, else 1 with one FILE:LINE: field: message per problem."""
    catalogue = catalogue_of(paths)
    for problem in [*catalogue.problems, *catalogue.warnings]:
        sys.stdout.write(f"{problem}\n")
    if catalogue.problems:
        raise typer.Exit(1)
    if not catalogue.runbooks:
        fail("no runbooks found", 1)
    warned = f", {len(catalogue.warnings)} warning(s)" if catalogue.warnings else ""
    err.print(f"{len(catalogue.runbooks)} runbook(s) valid{warned}")


@app.command("list")
def runbooks_list(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """The runbooks, in the order they are matched against alerts."""
    catalogue = catalogue_of(paths)
    rows = catalogue.ordered()
    if as_json:
        dump_json(
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


@app.command("show")
def runbooks_show(
    name: str,
    paths: Annotated[list[Path] | None, typer.Option("--path", help="Files or directories")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What a runbook does, step by step, without running it."""
    catalogue = catalogue_of(paths)
    loaded = catalogue.runbooks.get(name)
    if loaded is None:
        fail(f"no valid runbook named {name!r} (known: {', '.join(catalogue.runbooks) or 'none'})", 1)
    rb = loaded.runbook
    if as_json:
        dump_json(
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
