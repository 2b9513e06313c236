"""The `report/weekly` deployment `warroom up` serves: the period's figures as a Prefect table artifact
(each beside the period before) and a markdown summary with the anti-patterns it shows, under fixed keys so
the Artifacts page keeps their history."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from warroom.duration import format_duration
from warroom.ledger import Store, now
from warroom.reports.figures import Figures, figures
from warroom.reports.period import period_of
from warroom.reports.table import rows
from warroom.reports.warnings import AntiPattern, warnings
from warroom.settings import get_settings

TABLE_KEY = "incident-report"
SUMMARY_KEY = "incident-report-summary"


def summary(this: Figures, before: Figures, raised: list[AntiPattern]) -> str:
    def took(seconds: float | None) -> str:
        return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))

    lines = [
        f"# Incident response, {this.period.words()}",
        "",
        f"- **{this.incidents} incidents** ({before.incidents} the period before): "
        + ", ".join(f"{lv} {n}" for lv, n in sorted(this.by_severity.items())),
        f"- **Time to acknowledge** median {took(this.to_acknowledge.median)} "
        f"(p90 {took(this.to_acknowledge.p90)}); "
        f"**to resolve** median {took(this.to_resolve.median)} (p90 {took(this.to_resolve.p90)}), "
        f"before: {took(before.to_resolve.median)}",
        f"- **Customer impact** {this.impact_minutes:.12g} minutes; **waiting for approval** "
        f"{this.approval_wait_minutes:.12g} minutes beside {this.machine_minutes:.12g} of machine time",
        f"- **Automation rate** {this.automation_rate if this.automation_rate is not None else '-'} "
        f"({this.resolved_by_change} resolved by an approved change, {this.resolved_by_hand} by hand)",
        f"- **Post-mortems** {this.postmortems_done} done of {this.postmortems_owed} owed; **action items** "
        f"{int(this.action_items['done'])} done, {int(this.action_items['open'])} open, "
        f"{int(this.action_items['overdue'])} overdue",
        "",
        "## Warnings" if raised else "No anti-patterns this period.",
    ]
    lines += [
        f"- **{w.kind}**: {w.text}: {', '.join(w.incidents)}"
        + (f" (the newest {len(w.incidents)} of {w.count})" if w.count > len(w.incidents) else "")
        for w in raised
    ]
    return "\n".join(lines) + "\n"


@flow(name="report", log_prints=True)
def report(since: str = "7d", ending: datetime | None = None) -> str:
    """Publish how incident response went over the last period, beside the one before.

    Args:
        since: The period's length, back from its end: 7d, 30d, 12w.
        ending: When the period ends (default: now), for a report of a past week.
    """
    settings = get_settings()
    at = ending or now()
    period = period_of(since, None, None, at)
    store = Store.from_settings(settings)
    try:
        this = figures(store, period, policy=settings.severity, at=at)
        before = figures(store, period.previous(), policy=settings.severity, at=at)
        raised = warnings(store, period, at, policy=settings.severity)
    finally:
        store.close()
    table = [
        {"figure": label, "this period": a, "the period before": b, "change": c}
        for label, a, b, c in rows(this, before)
    ]
    create_table_artifact(key=TABLE_KEY, table=table, description=f"Incident response, {period.words()}")
    text = summary(this, before, raised)
    create_markdown_artifact(
        key=SUMMARY_KEY, markdown=text, description=f"Incident response, {period.words()}"
    )
    said = f"{this.incidents} incidents, {len(raised)} warning(s), {period.words()}"
    print(said)
    return said
