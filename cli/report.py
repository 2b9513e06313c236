"""`warroom report`: how incident response went over a period, beside the period before."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import JSON_VERSION, dump_json, fail, open_store, out
from warroom.incident import Severity
from warroom.settings import get_settings

if TYPE_CHECKING:
    from warroom.ledger import Store
    from warroom.reports.figures import Filters
    from warroom.reports.period import Period


def report(
    since: Annotated[str | None, typer.Option(help="How far back from now: 30d, 12w, 24h")] = None,
    start: Annotated[datetime | None, typer.Option("--from", help="First day (UTC), YYYY-MM-DD")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="Last day (UTC), YYYY-MM-DD, included")] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only incidents at this level")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service's incidents")] = None,
    runbook: Annotated[str | None, typer.Option(help="Only this runbook's incidents")] = None,
    team: Annotated[str | None, typer.Option(help="Only the incidents of this team's runbooks")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write the report as one self-contained HTML file, charts in it")
    ] = None,
    charts: Annotated[
        Path | None, typer.Option(help="Also write the charts as PNG files in this folder")
    ] = None,
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
    owned = None
    if team is not None:
        from cli.common import catalogue_of

        owned = tuple(r.runbook.name for r in catalogue_of(None).ordered() if r.runbook.team == team)
        if not owned:
            fail(f"no runbook names team {team!r} (a runbook's `team:`)", 2)
    chosen = Filters(severity=severity, service=service, runbook=runbook, runbooks=owned)
    settings = get_settings()
    store = open_store()
    try:
        this = figures(store, period, chosen, settings.severity, at)
        before = figures(store, period.previous(), chosen, settings.severity, at)
        raised = warnings(store, period, at, chosen, settings.severity)
        drawn = _draw(store, period, chosen) if html or charts else {}
    finally:
        store.close()
    if charts is not None:
        charts.mkdir(parents=True, exist_ok=True)
        for name, png in drawn.items():
            (charts / f"{name}.png").write_bytes(png)
    if html is not None:
        from warroom.reports.html import report_html

        html.write_text(report_html(this, before, raised, drawn, "Incident response"), encoding="utf-8")
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


def _draw(store: Store, period: Period, chosen: Filters) -> dict[str, bytes]:
    from warroom.reports.charts import charts
    from warroom.reports.trends import weeks

    return charts(weeks(store, period, chosen))
