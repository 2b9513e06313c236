"""The blameless post-mortem as Markdown, drafted from the ledger: six sections, each marked with a hash of
what Warroom drafted, so a re-draft replaces only the sections nobody has edited since."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import ActionItem, Incident, TimelineEvent
from warroom.postmortem.figures import Figures
from warroom.timeline_rows import timeline_rows

SECTIONS = (
    ("summary", "1. Incident Summary"),
    ("timeline", "2. Timeline"),
    ("root_cause", "3. Root Cause"),
    ("went_well", "4. What Went Well"),
    ("improve", "5. What Could Improve"),
    ("actions", "6. Action Items"),
)
_MARK = re.compile(r"^<!-- warroom:section (?P<key>[a-z_]+) draft:(?P<hash>[0-9a-f]{12}) -->$", re.M)
KEY_EVENTS = {
    EventKind.ALERT_FIRING: "detected",
    EventKind.INCIDENT_OPENED: "incident opened",
    EventKind.INCIDENT_ACKNOWLEDGED: "acknowledged",
    EventKind.SEVERITY_SET: "severity",
    EventKind.ROLE_ASSIGNED: "role",
    EventKind.PAGE_SENT: "paged",
    EventKind.PAGE_ESCALATED: "escalated",
    EventKind.MITIGATION_PROPOSED: "proposed",
    EventKind.APPROVAL_GRANTED: "approved",
    EventKind.APPROVAL_REJECTED: "rejected",
    EventKind.APPROVAL_TIMED_OUT: "approval timed out",
    EventKind.MITIGATION_APPLIED: "mitigation applied",
    EventKind.MITIGATION_FAILED: "mitigation failed",
    EventKind.VERIFICATION_PASSED: "verified",
    EventKind.VERIFICATION_FAILED: "verification failed",
    EventKind.STATUS_CHANGED: "status",
}
TTA_TARGET = timedelta(minutes=15)


def _digest(body: str) -> str:
    return hashlib.sha256(body.strip().encode()).hexdigest()[:12]


def _t(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "-"


def _d(span: timedelta | None) -> str:
    return format_duration(span) if span is not None else "-"


def _who(actor: str, incident: Incident) -> str:
    """An actor by name and role, as the timeline has them: never as a cause."""
    r = incident.roles
    role = (
        "incident commander"
        if actor == r.commander
        else "communications lead"
        if actor == r.comms_lead
        else "responder"
        if actor in r.responders
        else "subject-matter expert"
        if actor in r.smes
        else None
    )
    if actor in ("warroom", "", "unknown"):
        return "Warroom"
    return f"{actor} ({role})" if role else actor


@dataclass(frozen=True)
class Drafted:
    key: str
    title: str
    body: str


def draft(
    incident: Incident, timeline: Sequence[TimelineEvent], items: Sequence[ActionItem], figures: Figures
) -> list[Drafted]:
    return [
        Drafted(key, title, body)
        for (key, title), body in zip(
            SECTIONS,
            (
                _summary(incident, timeline, figures),
                _timeline(incident, timeline),
                _root_cause(timeline),
                _went_well(figures),
                _improve(figures),
                _actions(items),
            ),
            strict=True,
        )
    ]


def _summary(incident: Incident, timeline: Sequence[TimelineEvent], f: Figures) -> str:
    alert = next((e.text for e in timeline if e.kind == EventKind.ALERT_FIRING), None)
    r = incident.roles
    ran = "; ".join(
        f"{m.text} (approved by {', '.join(m.approved_by) or 'nobody recorded'})" for m in f.mitigations
    )
    lines = [
        f"**What happened:** {incident.title}" + (f". First signal: {alert}" if alert else ""),
        f"**Severity:** {incident.severity.value}; **service:** {incident.service or '-'}; "
        f"**runbook:** {incident.runbook or '-'}",
        f"**Impact:** customers affected for {_d(f.impact)} (from {_t(f.impact_started_at)} until "
        f"mitigated at {_t(f.mitigated_at)}). Users affected: _…_ (who, how many).",
        f"**Duration:** {_d(f.total)} from detection ({_t(f.detected_at)}) to resolution "
        f"({_t(f.resolved_at)})",
        f"**Time to acknowledge:** {_d(f.to_acknowledge)}; "
        f"**waiting for approval:** {_d(f.waiting_for_approval)}",
        f"**Mitigations:** {ran or 'none ran'}",
        f"**Roles:** commander {r.commander or '-'}, communications {r.comms_lead or '-'}, responders "
        f"{', '.join(r.responders) or '-'}, subject-matter experts {', '.join(r.smes) or '-'}",
    ]
    return "\n".join(f"- {line}" for line in lines)


def picture_name(incident: Incident) -> str:
    """The incident's phases drawn beside its post-mortem (files.py writes it)."""
    return f"{incident.id}-timeline.png"


def _timeline(incident: Incident, timeline: Sequence[TimelineEvent]) -> str:
    rows = [f"![{incident.id}, phase by phase]({picture_name(incident)})", ""]
    rows += ["| time (UTC) | what | who |", "|---|---|---|"]
    for row in timeline_rows(timeline):
        e = row.event
        label = KEY_EVENTS.get(e.kind)
        if label is None:
            continue
        text = row.text.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {e.at:%H:%M} | {label}: {text} | {_who(e.actor, incident)} |")
    return "\n".join(rows)


EVIDENCE = "What the diagnostics found:"  # heads the root cause's list of what was found wrong


def _root_cause(timeline: Sequence[TimelineEvent]) -> str:
    evidence = [
        e.text for e in timeline if e.kind == EventKind.DIAGNOSTIC_RESULT and (e.data or {}).get("trouble")
    ]
    lines = [EVIDENCE] + [f"- {t}" for t in evidence[:10]] if evidence else []
    lines += [
        "",
        "Five whys (ask about the system and the process, never about a person):",
        "1. Why did the service fail? _…_",
        "2. Why did that happen? _…_",
        "3. Why was it possible? _…_",
        "4. Why was it not caught earlier? _…_",
        "5. Why did the safeguards not stop it? _…_",
        "",
        "**Root cause:** _…_",
    ]
    return "\n".join(lines).strip()


def _went_well(f: Figures) -> str:
    notes = []
    if f.to_acknowledge is not None and f.to_acknowledge <= TTA_TARGET:
        notes.append(f"Acknowledged in {_d(f.to_acknowledge)}, within the {_d(TTA_TARGET)} target.")
    for m in f.mitigations:
        notes.append(
            f"{m.proposal} was applied at {m.at:%H:%M} after approval by {', '.join(m.approved_by) or '-'}."
        )
    if f.mitigated_at is not None and f.impact is not None:
        notes.append(f"Customer impact was contained to {_d(f.impact)}.")
    notes.append("_Add what the team did well._")
    return "\n".join(f"- {n}" for n in notes)


def _improve(f: Figures) -> str:
    notes = []
    if f.to_acknowledge is None:
        notes.append("Nobody acknowledged the incident; the time to acknowledge cannot be measured.")
    elif f.to_acknowledge > TTA_TARGET:
        notes.append(f"Acknowledging took {_d(f.to_acknowledge)}, over the {_d(TTA_TARGET)} target.")
    if f.escalations:
        notes.append(f"{f.escalations} escalation(s) were needed before someone answered.")
    if f.waiting_for_approval > timedelta(minutes=10):
        notes.append(f"Changes waited {_d(f.waiting_for_approval)} for approval.")
    notes += [f"A mitigation did not complete: {t}" for t in f.failed_mitigations]
    notes += [f"A diagnostic could not run: {t}" for t in f.failed_diagnostics[:5]]
    notes.append("_Add what made the response harder than it should have been._")
    return "\n".join(f"- {n}" for n in notes)


def _actions(items: Sequence[ActionItem]) -> str:
    if not items:
        return (
            "_No action items yet: `warroom actions add INC-N TITLE --owner NAME --due YYYY-MM-DD --as YOU`._"
        )
    rows = ["| # | action | owner | due | status | tracked at |", "|---|---|---|---|---|---|"]
    for i in items:
        cells = [str(i.id), i.title, i.owner or "-", str(i.due or "-"), i.status.value, i.tracker_url or "-"]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def render(
    incident: Incident, sections: Sequence[Drafted], kept: dict[str, tuple[str, str]] | None = None
) -> str:
    """The document. ``kept``: sections the team edited (key -> (draft hash, body)), written as they are."""
    kept = kept or {}
    out = [
        f"# Post-mortem: {incident.id} {incident.title}",
        "",
        f"_Blameless: this document is about systems and processes. Drafted by Warroom from the incident's "
        f"timeline; edit any section (`warroom postmortem edit {incident.id}`), and a re-draft keeps it._",
        "",
    ]
    for s in sections:
        digest, body = kept.get(s.key, (_digest(s.body), s.body))
        out += [f"## {s.title}", f"<!-- warroom:section {s.key} draft:{digest} -->", body.strip(), ""]
    return "\n".join(out)


def edited_sections(text: str) -> dict[str, tuple[str, str]]:
    """Sections of an existing document whose body is no longer what Warroom drafted."""
    found: dict[str, tuple[str, str]] = {}
    marks = list(_MARK.finditer(text))
    for n, m in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        body = text[m.end() : end]
        body = re.sub(r"\n## [^\n]*\s*$", "", body.rstrip())  # the next section's heading
        if _digest(body) != m["hash"]:
            found[m["key"]] = (m["hash"], body.strip())
    return found
