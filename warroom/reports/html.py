"""One self-contained HTML report (the charts embedded, no script, nothing fetched) a team can mail or
publish: the figures beside the period before, the warnings with their incidents, and the charts."""

from __future__ import annotations

import base64

import jinja2

from warroom.reports.figures import Figures
from warroom.reports.table import rows
from warroom.reports.warnings import AntiPattern

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader("warroom.reports", "templates"), autoescape=True
).get_template("report.html")


def report_html(
    this: Figures, before: Figures, raised: list[AntiPattern], charts: dict[str, bytes], title: str
) -> str:
    return _TEMPLATE.render(
        title=title,
        this=this,
        before=before,
        table=rows(this, before),
        raised=raised,
        charts={name: base64.b64encode(png).decode() for name, png in charts.items()},
    )
