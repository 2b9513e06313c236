"""How an incident reads as Markdown: the timeline artifact in the Prefect UI and in `warroom` output."""

from __future__ import annotations

from collections.abc import Sequence

from warroom.incident import Incident, TimelineEvent


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def timeline_markdown(incident: Incident, events: Sequence[TimelineEvent]) -> str:
    """The incident header and its full timeline, one table row per event, in recorded order."""
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
    lines += [f"| {e.id} | {e.at:%H:%M:%S} | {e.kind} | {_cell(e.actor)} | {_cell(e.text)} |" for e in events]
    return "\n".join(lines) + "\n"
