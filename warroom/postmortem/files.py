"""Where a post-mortem lives and how a draft is written: ``$WARROOM_HOME/postmortems/INC-N.md`` (0600),
re-drafted from the ledger with the sections the team edited kept; and the review meeting as an
iCalendar invite, a number of working days after resolution set by the severity policy."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from warroom.home import private_file
from warroom.incident import Incident, TimelineEvent
from warroom.ledger import Store
from warroom.postmortem.document import draft, edited_sections, picture_name, render
from warroom.postmortem.figures import Figures, compute
from warroom.settings import Settings

PLACEHOLDER = "_…_"


def path_for(settings: Settings, incident: Incident) -> Path:
    return settings.home / "postmortems" / f"{incident.id}.md"


@dataclass(frozen=True)
class Written:
    path: Path
    text: str
    kept: tuple[str, ...]  # sections the team had edited, left as they were
    figures: Figures


def write_draft(settings: Settings, store: Store, ref: str | int) -> Written:
    incident = store.get(ref)
    timeline = store.timeline(incident.number)
    figures = compute(incident, timeline)
    sections = draft(incident, timeline, store.action_items(incident.id), figures)
    path = path_for(settings, incident)
    picture = draw_phases(incident, timeline)
    private_file(path.with_name(picture_name(incident)), picture, replace=True)
    kept = edited_sections(path.read_text(encoding="utf-8")) if path.exists() else {}
    text = render(incident, sections, kept)
    private_file(path, text.encode(), replace=True)
    return Written(path, text, tuple(sorted(kept)), figures)


def draw_phases(incident: Incident, timeline: Sequence[TimelineEvent]) -> bytes:
    """The incident's phases as a PNG: minutes from detection, one bar each."""
    from warroom.ledger import now
    from warroom.postmortem.phases import phases
    from warroom.reports.charts import phases_chart

    spans = [
        (
            p.label,
            p.kind,
            (p.start - incident.detected_at).total_seconds() / 60,
            (p.end - incident.detected_at).total_seconds() / 60,
        )
        for p in phases(incident, timeline, now())
    ]
    return phases_chart(f"{incident.id}: {incident.title}"[:90], spans)


def unfinished(text: str) -> list[str]:
    """Sections that still hold the scaffold's blanks."""
    out, title = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif PLACEHOLDER in line and title and title not in out:
            out.append(title)
    return out


def working_days_after(day: date, days: int) -> date:
    while days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def review_invite(
    settings: Settings, incident: Incident, attendees: dict[str, str | None], at: time = time(14, 0)
) -> tuple[Path, datetime]:
    """An iCalendar invite for the review meeting (one hour, UTC) with the responders as attendees."""
    policy = settings.policy(incident.severity)
    resolved = (incident.resolved_at or datetime.now(UTC)).date()
    start = datetime.combine(working_days_after(resolved, policy.review_within_days), at, tzinfo=UTC)
    uid = hashlib.sha256(f"review|{incident.id}|{incident.detected_at.isoformat()}".encode()).hexdigest()[:24]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Warroom//post-mortem//EN",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{uid}@warroom",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
        f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
        f"SUMMARY:Post-mortem review: {incident.id} {incident.title}"[:250]
        .replace(",", "\\,")
        .replace(";", "\\;"),
        f"DESCRIPTION:Blameless review of {incident.id}. Document: warroom postmortem show {incident.id}",
    ]
    lines += [
        f"ATTENDEE;CN={name};ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{email}"
        for name, email in sorted(attendees.items())
        if email
    ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    path = settings.home / "postmortems" / f"{incident.id}-review.ics"
    private_file(path, "".join(f"{line}\r\n" for line in lines).encode(), replace=True)
    return path, start
