"""`warroom steps list|show`: the steps runbooks may use, their params and results."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import JSON_VERSION, columns, dump_json, fail, out

app = typer.Typer(help="The steps runbooks may use.", no_args_is_help=True)


@app.command("list")
def steps_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every step a runbook may `use:`, with its kind and whether this build runs it."""
    from warroom.steps import all_steps
    from warroom.steps_view import describe, result_kind

    steps = all_steps()
    if as_json:
        dump_json({"version": JSON_VERSION, "steps": [describe(s) for s in steps.values()]})
        return
    rows = [
        [s.name, s.kind.value, result_kind(s), "yes" if s.implemented else "NO (declared)", s.summary]
        for s in steps.values()
    ]
    sys.stdout.write(columns(["STEP", "KIND", "RESULT", "RUNS", "SUMMARY"], rows))


@app.command("show")
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
        dump_json({"version": JSON_VERSION, "step": info})
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
