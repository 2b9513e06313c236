"""The status page as HTML that reads without JavaScript (server-rendered, styles inline, every fact in the
text or a ``title``), and the same page as an Atom feed: one entry per published update."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import jinja2

from warroom.duration import format_duration
from warroom.status.model import ComponentState, worst
from warroom.status.page import Page
from warroom.status.uptime import UptimeDay

_COLOURS = {
    ComponentState.OPERATIONAL: "#2e7d32",
    ComponentState.DEGRADED: "#f9a825",
    ComponentState.PARTIAL: "#ef6c00",
    ComponentState.MAJOR: "#c62828",
    ComponentState.MAINTENANCE: "#1565c0",
}

_OVERALL = {
    ComponentState.OPERATIONAL: "All systems operational",
    ComponentState.DEGRADED: "Some systems are slower than usual",
    ComponentState.PARTIAL: "Some systems are partly down",
    ComponentState.MAJOR: "A major outage is under way",
    ComponentState.MAINTENANCE: "Scheduled maintenance under way",
}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("warroom.status", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_template = _env.get_template("page.html")


def _when(at: datetime) -> str:
    return f"{at:%b %d, %H:%M} UTC"


def shown_percent(percent: float) -> str:
    """Floored to two decimals: any outage at all reads below 100.00%, never rounded up to it."""
    return f"{math.floor(percent * 100) / 100:.2f}"


def render_html(page: Page) -> str:
    def next_update(due: datetime) -> str:
        seconds = (due - page.at).total_seconds()
        minutes = max(1, -(-int(abs(seconds)) // 60))
        plural = "s" if minutes != 1 else ""
        if seconds < 0:
            return f"The next update is {minutes} minute{plural} late (was due {due:%H:%M} UTC)."
        return f"Next update in {minutes} minute{plural} ({due:%H:%M} UTC)."

    def affects(components: dict[str, ComponentState]) -> str:
        return "Affects " + ", ".join(f"{name} ({state.words})" for name, state in components.items())

    def day_line(d: UptimeDay) -> str:
        if not d.incidents:
            return f"{d.day.isoformat()}: no incidents"
        what = ", ".join(f"INC-{n}" for n in d.incidents)
        return f"{d.day.isoformat()}: {d.down_minutes} min down ({d.worst.words}); {what}"

    return _template.render(
        page=page,
        colour=_COLOURS,
        overall=_OVERALL,
        maint=ComponentState.MAINTENANCE,
        when=_when,
        next_update=next_update,
        affects=affects,
        day_line=day_line,
        worst_of=lambda i: worst(list(i.components.values())),
        shown_percent=shown_percent,
        lasted=lambda i: format_duration(timedelta(seconds=max(60, int(i.duration.total_seconds())))),
    )


_ATOM = "http://www.w3.org/2005/Atom"


def render_atom(page: Page) -> bytes:
    """One entry per published update, newest first."""
    ET.register_namespace("", _ATOM)
    feed = ET.Element(f"{{{_ATOM}}}feed")
    base = (page.url or "").rstrip("/")
    ET.SubElement(feed, f"{{{_ATOM}}}title").text = page.title
    ET.SubElement(feed, f"{{{_ATOM}}}id").text = f"{base or 'urn:warroom'}/status"
    ET.SubElement(feed, f"{{{_ATOM}}}updated").text = page.at.isoformat()
    if base:
        ET.SubElement(feed, f"{{{_ATOM}}}link", href=f"{base}/", rel="alternate")
    updates = sorted(
        ((i, u) for i in page.incidents for u in i.updates), key=lambda pair: pair[1].id, reverse=True
    )
    for incident, update in updates:
        entry = ET.SubElement(feed, f"{{{_ATOM}}}entry")
        ET.SubElement(
            entry, f"{{{_ATOM}}}id"
        ).text = f"{base or 'urn:warroom'}/status/{incident.key}/{update.id}"
        ET.SubElement(
            entry, f"{{{_ATOM}}}title"
        ).text = f"{update.state.value.capitalize()}: {incident.title}"
        ET.SubElement(entry, f"{{{_ATOM}}}updated").text = update.posted_at.isoformat()
        ET.SubElement(entry, f"{{{_ATOM}}}content", type="text").text = update.text
        if base:
            ET.SubElement(entry, f"{{{_ATOM}}}link", href=f"{base}/#{incident.key}", rel="alternate")
        author = ET.SubElement(entry, f"{{{_ATOM}}}author")
        ET.SubElement(author, f"{{{_ATOM}}}name").text = page.title
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")
