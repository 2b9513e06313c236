"""`warroom report`: how incident response went over a period, beside the period before."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from cli.common import JSON_VERSION, dump_json, fail, open_store, out
from warroom.incident import Severity
from warroom.settings import get_settings


def report(
    since: Annotated[str | None, typer.Option(help="How far back from now: 30d, 12w, 24h")] = None,
    start: Annotated[datetime | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="Last day (UTC), YYYY-MM-DD, included")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only incidents at this level")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service's incidents")] = None,
    runbook: Annotated[str | None, typer.Option(help="Only this runbook's incidents")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents by severity and runbook, time to acknowledge, mitigate and resolve (median, p90, mean),
    customer impact, approval waits, changes and how they ended, automation rate, post-mortems and action
    items: each beside the period before (default: the last 30 days); then the anti-patterns it shows, each
    with its incidents."""
    from warroom.ledger import now
    from warroom.reports.figures import Filters, figures
    from warroom.reports.period import period_of
    from warroom.reports.table import render
    from warroom.reports.warnings import warnings

    at = now()
    try:
        period = period_of(
            since if since or start or end else "30d",
            start.date() if start else None,
            end.date() if end else None,
            at,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    chosen = Filters(severity=severity, service=service, runbook=runbook)
    settings = get_settings()
    store = open_store()
    try:
        this = figures(store, period, chosen, settings.severity, at)
        before = figures(store, period.previous(), chosen, settings.severity, at)
        raised = warnings(store, period, at, chosen, settings.severity)
    finally:
        store.close()
    if as_json:
        dump_json(
            {
                "version": JSON_VERSION,
                "figures": this.as_dict(),
                "previous": before.as_dict(),
                "warnings": [
                    {"kind": w.kind, "text": w.text, "count": w.count, "incidents": list(w.incidents)}
                    for w in raised
                ],
            }
        )
        return
    out.print(render(this, before), end="")
    if raised:
        out.print("\nWarnings:")
    for w in raised:
        shown = ", ".join(w.incidents[-10:]) + (f" and {w.count - 10} more" if w.count > 10 else "")
        out.print(f"  {w.kind}: {w.text}: {shown}")
