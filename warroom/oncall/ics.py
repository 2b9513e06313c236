"""Shifts as an iCalendar feed (RFC 5545) that people import into their calendars: one event per shift,
times in UTC, lines folded at 75 octets, CRLF line ends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from warroom.oncall.rotation import Shift


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on the next line after a space (never inside a character)."""
    out: list[str] = []
    current = b""
    for ch in line:
        raw = ch.encode()
        if len(current) + len(raw) > (75 if not out else 74):
            out.append(current.decode())
            current = b""
        current += raw
    out.append(current.decode())
    return [out[0], *(" " + part for part in out[1:])]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(shifts: Iterable[Shift], now: datetime, name: str = "Warroom on-call") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Warroom//on-call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(name)}",
    ]
    for s in shifts:
        if s.person is None:
            continue
        key = f"{s.team}|{s.layer}|{s.person}|{s.start.isoformat()}"
        uid = hashlib.sha256(key.encode()).hexdigest()[:32]
        summary = f"On call ({s.layer}): {s.person}, team {s.team}"
        description = {"rotation": "rotation", "override": "override", "cover": "covering"}.get(
            s.source, s.source
        )
        if s.note:
            description += f": {s.note}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@warroom",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(s.start)}",
            f"DTEND:{_stamp(s.end)}",
            f"SUMMARY:{_text(summary)}",
            f"DESCRIPTION:{_text(description)}",
            f"CATEGORIES:{_text(s.team)},{_text(s.layer)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
