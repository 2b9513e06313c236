"""`warroom oncall` as an engineer runs it: the shipped schedule checked, now and next, an override made at
3 a.m. that the next `now` answers with, the calendar feed a calendar parser reads, and a broken schedule
refused with FILE:LINE."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar

from tests.conftest import REPO
from tests.test_cli import warroom


def env(tmp_path: Path, oncall: Path = REPO / "oncall") -> dict[str, str]:
    return {"WARROOM_HOME": str(tmp_path / "home"), "WARROOM_ONCALL_DIR": str(oncall)}


def test_the_shipped_schedule_is_checked_and_answers_now_and_next(tmp_path: Path) -> None:
    checked = warroom("oncall", "check", env=env(tmp_path))
    assert checked.returncode == 0 and "1 schedule(s) valid" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    now = json.loads(warroom("oncall", "now", "--json", env=env(tmp_path)).stdout)["oncall"]
    assert [(r["team"], r["layer"]) for r in now] == [("sre", "primary"), ("sre", "secondary")]
    assert all(r["person"] in {"alice", "bob", "carol"} for r in now)
    upcoming = warroom("oncall", "next", "--days", "21", env=env(tmp_path))
    primaries = [line for line in upcoming.stdout.splitlines() if line.split()[:2] == ["sre", "primary"]]
    assert upcoming.returncode == 0 and len(primaries) >= 3, upcoming.stdout


def test_an_override_from_the_cli_is_who_is_on_call_until_it_ends(tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    made = warroom(
        "oncall",
        "override",
        "--layer",
        "primary",
        "--person",
        "dana",
        "--from",
        start.isoformat(),
        "--to",
        (start + timedelta(hours=8)).isoformat(),
        "--reason",
        "alice is sick",
        "--as",
        "alice",
        env=env(tmp_path),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    [primary] = [
        r
        for r in json.loads(warroom("oncall", "now", "--json", env=env(tmp_path)).stdout)["oncall"]
        if r["layer"] == "primary"
    ]
    assert (primary["person"], primary["source"], primary["note"]) == ("dana", "override", "alice is sick")
    later = (start + timedelta(hours=9)).isoformat()
    [after] = [
        r
        for r in json.loads(warroom("oncall", "now", "--json", "--at", later, env=env(tmp_path)).stdout)[
            "oncall"
        ]
        if r["layer"] == "primary"
    ]
    assert after["source"] == "rotation"
    wrong = warroom(
        "oncall",
        "override",
        "--layer",
        "tertiary",
        "--person",
        "x",
        "--from",
        "2026-12-01T00:00",
        "--to",
        "2026-12-02T00:00",
        "--as",
        "alice",
        env=env(tmp_path),
    )
    assert wrong.returncode == 1 and "team sre has no layer 'tertiary'" in wrong.stderr


def test_the_calendar_export_imports_into_a_calendar_parser(tmp_path: Path) -> None:
    feed = tmp_path / "sre.ics"
    done = warroom("oncall", "export", "--ics", "--days", "60", "--out", str(feed), env=env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = icalendar.Calendar.from_ical(feed.read_bytes())
    events = list(parsed.walk("VEVENT"))
    assert len(events) >= 16  # two layers, weekly, 60 days
    assert all(e.decoded("DTEND") > e.decoded("DTSTART") for e in events)
    assert {str(e["SUMMARY"]).split(": ")[1].split(",")[0] for e in events} <= {"alice", "bob", "carol"}
    again = tmp_path / "again.ics"
    # Exported again a moment later, the shift on call now is the same event.
    assert warroom("oncall", "export", "--days", "60", "--out", str(again), env=env(tmp_path)).returncode == 0
    uids = [str(e["UID"]) for e in icalendar.Calendar.from_ical(again.read_bytes()).walk("VEVENT")]
    assert uids == [str(e["UID"]) for e in events]


def test_a_broken_schedule_is_refused_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "oncall"
    folder.mkdir()
    (folder / "web.yaml").write_text(
        "team: web\ntimezone: Mars/Olympus\nrotation: {start: 2026-11-02}\n"
        "layers: [{name: primary, members: [a]}]\n"
    )
    checked = warroom("oncall", "check", env=env(tmp_path, folder))
    assert checked.returncode == 1
    assert f"{folder / 'web.yaml'}:2: timezone: unknown time zone 'Mars/Olympus'" in checked.stdout
