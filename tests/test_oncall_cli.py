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


def _override(tmp_path: Path, start: datetime, hours: float, reason: str) -> str:
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
        (start + timedelta(hours=hours)).isoformat(),
        "--reason",
        reason,
        "--as",
        "alice",
        env=env(tmp_path),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.split(":", 1)[0].removeprefix("override ")


def _primary(tmp_path: Path, at: str | None = None) -> dict[str, str]:
    asked = warroom("oncall", "now", "--json", *(["--at", at] if at else []), env=env(tmp_path))
    [primary] = [r for r in json.loads(asked.stdout)["oncall"] if r["layer"] == "primary"]
    return primary  # type: ignore[no-any-return]


def test_an_override_from_the_cli_is_who_is_on_call_until_it_ends(tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    _override(tmp_path, start, 8, "alice is sick")
    primary = _primary(tmp_path)
    assert (primary["person"], primary["source"], primary["note"]) == ("dana", "override", "alice is sick")
    assert _primary(tmp_path, at=(start + timedelta(hours=9)).isoformat())["source"] == "rotation"
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


def test_an_override_is_listed_and_cancelled_by_id_and_stays_in_the_history(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    current = _override(tmp_path, now - timedelta(minutes=5), 8, "alice is sick")
    coming = _override(tmp_path, now + timedelta(days=2), 4, "swap")
    listed = warroom("oncall", "overrides", env=env(tmp_path))
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {current, coming}, listed.stdout
    assert "in effect" in rows[current] and "coming" in rows[coming] and "alice is sick" in rows[current]
    assert _primary(tmp_path)["person"] == "dana"

    cancelled = warroom(
        "oncall", "cancel-override", current, "--as", "alice", "--reason", "feeling better", env=env(tmp_path)
    )
    assert cancelled.returncode == 0 and "dana no longer holds sre/primary" in cancelled.stdout
    assert _primary(tmp_path)["source"] == "rotation"  # the schedule holds the layer again, at once
    again = warroom("oncall", "cancel-override", current, "--as", "alice", env=env(tmp_path))
    assert again.returncode == 1 and f"override {current} was cancelled by alice already" in again.stderr
    missing = warroom("oncall", "cancel-override", "999", "--as", "alice", env=env(tmp_path))
    assert missing.returncode == 1 and "no override 999" in missing.stderr

    left = warroom("oncall", "overrides", env=env(tmp_path)).stdout
    assert current not in {line.split()[0] for line in left.splitlines()[1:]} and coming in left
    history = warroom("oncall", "overrides", "--all", env=env(tmp_path)).stdout
    [row] = [line for line in history.splitlines() if line.split()[0] == current]
    assert "cancelled by alice at" in row and "feeling better" in row
