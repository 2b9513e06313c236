"""On-call schedules as pure functions: handoffs at local time across daylight-saving changes and at
midnight, overrides, leave, shifts that tile time exactly, FILE:LINE refusals, and the iCalendar feed read
back by a calendar parser."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.oncall.ics import calendar
from warroom.oncall.loading import ScheduleInvalid, load_roster, parse_schedule
from warroom.oncall.model import Override, Schedule
from warroom.oncall.rotation import handoff, shifts, who

REPO = Path(__file__).resolve().parent.parent


def schedule(**changes: object) -> Schedule:
    base: dict[str, object] = {
        "team": "sre",
        "timezone": "Europe/Berlin",
        "rotation": {"length": "1w", "start": "2026-10-19", "handoff": {"day": "monday", "time": "09:00"}},
        "layers": [
            {"name": "primary", "members": ["alice", "bob", "carol"]},
            {"name": "secondary", "members": ["bob", "carol", "alice"]},
        ],
    }
    base.update(changes)
    return Schedule.model_validate(base)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_weekly_handoffs_follow_local_time_across_the_autumn_dst_change() -> None:
    s = schedule()
    # Summer time (UTC+2): 09:00 local is 07:00 UTC; after 25 Oct 2026 (UTC+1) it is 08:00 UTC.
    assert handoff(s, 0) == utc("2026-10-19T07:00")
    assert handoff(s, 1) == utc("2026-10-26T08:00")
    assert who(s, "primary", utc("2026-10-26T07:59"))[0] == "alice"
    assert who(s, "primary", utc("2026-10-26T08:00"))[0] == "bob"
    assert who(s, "secondary", utc("2026-10-26T08:00"))[0] == "carol"
    assert who(s, "primary", utc("2026-11-09T08:00"))[0] == "alice"  # the rotation wraps around


def test_a_handoff_inside_the_spring_forward_gap_happens_an_hour_later_on_the_new_clock() -> None:
    s = schedule(rotation={"length": "1d", "start": "2027-03-27", "handoff": {"time": "02:30"}})
    # 28 Mar 2027, 02:30 does not exist in Berlin: the handoff is at 01:30 UTC (03:30 CEST).
    assert handoff(s, 1) == utc("2027-03-28T01:30")
    assert handoff(s, 2) == utc("2027-03-29T00:30")  # 02:30 CEST the next day
    assert who(s, "primary", utc("2027-03-28T01:29"))[0] == "alice"
    assert who(s, "primary", utc("2027-03-28T01:30"))[0] == "bob"


def test_a_daily_handoff_at_midnight_changes_hands_exactly_at_midnight_local() -> None:
    s = schedule(
        timezone="America/New_York",
        rotation={"length": "1d", "start": "2026-11-01", "handoff": {"time": "00:00"}},
    )
    # 1 Nov 2026 is the US fall-back day: midnight is 04:00 UTC, the next midnight 05:00 UTC.
    assert handoff(s, 0) == utc("2026-11-01T04:00") and handoff(s, 1) == utc("2026-11-02T05:00")
    assert who(s, "primary", utc("2026-11-02T04:59:59"))[0] == "alice"
    assert who(s, "primary", utc("2026-11-02T05:00"))[0] == "bob"
    assert who(s, "primary", utc("2026-10-31T12:00"))[0] == "carol"  # before the start: counted backwards


def test_overrides_win_and_the_last_written_wins_where_they_overlap() -> None:
    s = schedule(
        overrides=[
            {"layer": "primary", "person": "dana", "from": "2026-10-20T18:00", "to": "2026-10-21T09:00"}
        ]
    )
    assert who(s, "primary", utc("2026-10-20T15:59")) == ("alice", "rotation", "")
    assert who(s, "primary", utc("2026-10-20T16:00"))[0] == "dana"  # 18:00 Berlin summer time
    later = Override.model_validate(
        {
            "layer": "primary",
            "person": "erin",
            "from": "2026-10-20T20:00+02:00",
            "to": "2026-10-20T22:00+02:00",
            "reason": "dana's train",
        }
    )
    assert who(s, "primary", utc("2026-10-20T18:30"), [later]) == ("erin", "override", "dana's train")
    assert who(s, "primary", utc("2026-10-21T07:00"))[0] == "alice"


def test_someone_on_leave_is_covered_by_the_next_member_who_holds_no_other_layer() -> None:
    s = schedule(holidays=[{"person": "alice", "from": "2026-10-20", "to": "2026-10-21"}])
    assert who(s, "primary", utc("2026-10-19T12:00"))[0] == "alice"
    # alice is primary that week; bob is secondary, so carol covers primary.
    assert who(s, "primary", utc("2026-10-20T12:00")) == ("carol", "cover", "covers for alice (on leave)")
    assert who(s, "primary", utc("2026-10-22T12:00"))[0] == "alice"
    everyone = schedule(
        layers=[{"name": "primary", "members": ["alice"]}],
        holidays=[{"person": "alice", "from": "2026-10-20", "to": "2026-10-20"}],
    )
    assert who(everyone, "primary", utc("2026-10-20T12:00"))[0] is None


@settings(max_examples=60, deadline=None)
@given(
    start_day=st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    length=st.sampled_from(["1d", "3d", "1w", "2w"]),
    hour=st.integers(0, 23),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
    offset_hours=st.integers(0, 24 * 60),
    span_days=st.integers(1, 40),
)
def test_shifts_tile_the_range_and_agree_with_who_is_on_call(
    start_day: date, length: str, hour: int, zone: str, offset_hours: int, span_days: int
) -> None:
    s = schedule(
        timezone=zone,
        rotation={"length": length, "start": start_day.isoformat(), "handoff": {"time": f"{hour:02d}:00"}},
        holidays=[
            {
                "person": "bob",
                "from": (start_day + timedelta(days=10)).isoformat(),
                "to": (start_day + timedelta(days=12)).isoformat(),
            }
        ],
    )
    begin = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=offset_hours)
    end = begin + timedelta(days=span_days)
    for layer in ("primary", "secondary"):
        pieces = [x for x in shifts(s, begin, end) if x.layer == layer]
        assert pieces[0].start == begin and pieces[-1].end == end
        for a, b in itertools.pairwise(pieces):
            assert a.end == b.start and (a.person, a.source, a.note) != (b.person, b.source, b.note)
        for piece in pieces:
            for at in (piece.start, piece.end - timedelta(seconds=1)):
                assert who(s, layer, at)[0] == piece.person


def test_the_calendar_feed_parses_and_holds_one_event_per_shift() -> None:
    s = schedule(
        overrides=[
            {
                "layer": "primary",
                "person": "dana",
                "from": "2026-10-20T18:00",
                "to": "2026-10-21T09:00",
                "reason": "a swap; with a comma, and a very long reason " + "x" * 120,
            }
        ]
    )
    begin = utc("2026-10-19T00:00")
    pieces = shifts(s, begin, begin + timedelta(days=21))
    text = calendar(pieces, begin)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    parsed = icalendar.Calendar.from_ical(text)
    events = [e for e in parsed.walk("VEVENT")]
    assert len(events) == len(pieces) and len({str(e["UID"]) for e in events}) == len(events)
    first = next(e for e in events if "dana" in str(e["SUMMARY"]))
    assert first.decoded("DTSTART") == utc("2026-10-20T16:00") and first.decoded("DTEND") == utc(
        "2026-10-21T07:00"
    )
    assert "a swap; with a comma" in str(first["DESCRIPTION"])


def test_bad_schedules_are_refused_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            team: payments
            timezone: Europe/Berlinn
            rotation:
              length: 36h
              start: 2026-11-03
              handoff: {day: monday}
            layers:
              - name: primary
                members: [alice, alice]
            holidays:
              - {person: zed, from: 2026-12-01, to: 2026-11-30}
            """
        )
    )
    roster = load_roster([tmp_path])
    found = {str(p) for p in roster.problems}
    assert (
        f"{bad}:2: timezone: unknown time zone 'Europe/Berlinn' (write an IANA name like Europe/Berlin)"
        in found
    )
    assert f"{bad}:4: rotation.length: a rotation is a whole number of days (1d, 7d, 1w)" in found
    assert f"{bad}:9: layers[0].members: a member appears twice in one layer" in found
    assert f"{bad}:11: holidays[0]: leave ends on or after the day it starts" in found
    assert not roster.schedules
    with pytest.raises(
        ScheduleInvalid, match=r"<s>:3: rotation: start 2026-11-03 is a tuesday, but handoff.day is monday"
    ):
        parse_schedule(
            "team: a\ntimezone: UTC\nrotation: {start: 2026-11-03, handoff: {day: monday}}\n"
            "layers: [{name: primary, members: [x]}]\n",
            "<s>",
        )
    with pytest.raises(ScheduleInvalid, match=r"<s>:5: holidays\[0\].person: 'zed' is in no layer of team a"):
        parse_schedule(
            "team: a\ntimezone: UTC\nrotation: {start: 2026-11-03}\nlayers: [{name: primary, members: [x]}]\n"
            "holidays: [{person: zed, from: 2026-12-01, to: 2026-12-02}]\n",
            "<s>",
        )


def test_the_shipped_schedules_are_valid() -> None:
    roster = load_roster([REPO / "oncall"])
    assert not roster.problems and "sre" in roster.schedules


def test_the_roster_is_read_once_per_edit_of_the_schedules_and_never_served_stale(tmp_path: Path) -> None:
    from warroom.filecache import DirectoryCache

    (tmp_path / "sre.yaml").write_text((REPO / "oncall" / "sre.yaml").read_text())
    cache = DirectoryCache(tmp_path, lambda d: load_roster([d]))
    first = cache.get()
    assert all(cache.get() is first for _ in range(50)) and cache.loads == 1

    # An edit (a member renamed in place) is seen on the next read, and read once.
    text = (tmp_path / "sre.yaml").read_text()
    member = first.schedules["sre"].layers[0].members[0]
    (tmp_path / "sre.yaml").write_text(text.replace(member, "zoe"))
    edited = cache.get()
    assert "zoe" in edited.schedules["sre"].layers[0].members and cache.get() is edited and cache.loads == 2

    # A new team's file, then its removal.
    (tmp_path / "payments.yaml").write_text(text.replace("team: sre", "team: payments"))
    assert set(cache.get().schedules) == {"sre", "payments"}
    (tmp_path / "payments.yaml").unlink()
    assert set(cache.get().schedules) == {"sre"} and cache.loads == 4
