"""How an incident reads as Markdown: the timeline artifact in the Prefect UI and in `warroom` output."""

from __future__ import annotations

from collections.abc import Sequence

from warroom.incident import Incident, TimelineEvent
from warroom.timeline_rows import timeline_rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def timeline_markdown(incident: Incident, events: Sequence[TimelineEvent]) -> str:
    """The incident header and its timeline in recorded order: a row per event, numbered within the
    incident, a firing alert's repeats folded into its first row."""
    r = incident.roles
    lines = [
        f"# {incident.id} · {incident.severity.value} · {incident.status.value}",
        "",
        f"**{_cell(incident.title)}**",
        "",
        f"- runbook: `{incident.runbook or '-'}`  service: `{incident.service or '-'}`",
        f"- commander: {r.commander or '-'} · comms lead: {r.comms_lead or '-'} · responders: "
        f"{', '.join(r.responders) or '-'}",
        f"- detected {incident.detected_at:%Y-%m-%d %H:%M:%S}Z"
        + (f" · mitigated {incident.mitigated_at:%H:%M:%S}Z" if incident.mitigated_at else "")
        + (f" · resolved {incident.resolved_at:%H:%M:%S}Z" if incident.resolved_at else ""),
        "",
        "| # | time (UTC) | event | actor | what |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.number} | {r.event.at:%H:%M:%S} | {r.event.kind} | {_cell(r.event.actor)} | {_cell(r.text)} |"
        for r in timeline_rows(events)
    ]
    return "\n".join(lines) + "\n"
