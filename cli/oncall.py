"""`warroom oncall`: who is on call now and next, overrides, the calendar feed, schedule checks, load."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from cli.common import JSON_VERSION, columns, dump_json, fail, open_store, out
from warroom.duration import parse_duration
from warroom.oncall.current import cli_overrides, roster
from warroom.oncall.fairness import load_report
from warroom.oncall.ics import calendar
from warroom.oncall.loading import Roster, UnknownTeam
from warroom.oncall.model import Schedule
from warroom.oncall.rotation import Shift, shifts, who
from warroom.settings import get_settings

if TYPE_CHECKING:
    from warroom.ledger import OverrideRecord

app = typer.Typer(help="On-call schedules: who is on call, overrides, calendar, load.", no_args_is_help=True)

TeamOption = Annotated[str | None, typer.Option("--team", help="Team (default: the only schedule)")]


def _roster() -> Roster:
    found = roster(get_settings())
    if found.problems:
        for p in found.problems:
            out.print(f"warning: {p}", soft_wrap=True)
    return found


def _teams(found: Roster, team: str | None) -> list[Schedule]:
    if team is None and len(found.schedules) != 1:
        return list(found.schedules.values())
    try:
        return [found.team(team)]
    except UnknownTeam as exc:
        fail(str(exc), 1)


def _when(text: str | None, schedule: Schedule | None = None) -> datetime:
    """An ISO time; without an offset it is the team's local time (else UTC)."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        fail(f"not a time: {text!r} (write 2026-12-24T18:00, optionally with +01:00)", 2)
    if at.tzinfo is None:
        at = at.replace(tzinfo=schedule.tz if schedule else UTC)
    return at.astimezone(UTC)


def _shifts(schedules: list[Schedule], start: datetime, end: datetime) -> list[Shift]:
    store = open_store()
    try:
        return [s for sch in schedules for s in shifts(sch, start, end, cli_overrides(store, sch.team))]
    finally:
        store.close()


@app.command("now")
def oncall_now(
    team: TeamOption = None,
    at: Annotated[str | None, typer.Option(help="At this time instead of now (ISO)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who holds each layer of the schedule now (or --at), and why (rotation, override, covering leave)."""
    found = _roster()
    store = open_store()
    rows = []
    for schedule in _teams(found, team):
        moment = _when(at, schedule)
        extra = cli_overrides(store, schedule.team)
        for layer in schedule.layers:
            person, source, note = who(schedule, layer.name, moment, extra)
            rows.append([schedule.team, layer.name, person or "-", source, note])
    store.close()
    if as_json:
        keys = ["team", "layer", "person", "source", "note"]
        dump_json({"version": JSON_VERSION, "oncall": [dict(zip(keys, r, strict=True)) for r in rows]})
        return
    sys.stdout.write(columns(["TEAM", "LAYER", "PERSON", "SOURCE", "NOTE"], rows))


@app.command("next")
def oncall_next(team: TeamOption = None, days: Annotated[int, typer.Option(min=1, max=366)] = 14) -> None:
    """Every shift in the next --days, in each team's local time."""
    schedules = _teams(_roster(), team)
    start = datetime.now(UTC)
    rows = []
    for s in _shifts(schedules, start, start + timedelta(days=days)):
        tz = next(x.tz for x in schedules if x.team == s.team)
        rows.append(
            [
                s.team,
                s.layer,
                s.person or "-",
                f"{s.start.astimezone(tz):%a %Y-%m-%d %H:%M}",
                f"{s.end.astimezone(tz):%a %Y-%m-%d %H:%M %Z}",
                s.source + (f": {s.note}" if s.note else ""),
            ]
        )
    sys.stdout.write(columns(["TEAM", "LAYER", "PERSON", "FROM", "TO", "WHY"], rows))


@app.command("override")
def oncall_override(
    layer: Annotated[str, typer.Option(help="Which layer (primary, secondary, ...)")],
    person: Annotated[str, typer.Option(help="Who is on call instead")],
    start: Annotated[str, typer.Option("--from", help="Start (ISO; team local time without an offset)")],
    end: Annotated[str, typer.Option("--to", help="End (ISO)")],
    as_: Annotated[str, typer.Option("--as", help="Who makes the override (recorded)")],
    team: TeamOption = None,
    reason: Annotated[str, typer.Option(help="Why (a swap, a sick day)")] = "",
) -> None:
    """Put someone else on call for a layer over a time range, over the YAML schedule until it ends."""
    chosen = _teams(_roster(), team)
    if len(chosen) != 1:
        fail("name the team with --team", 2)
    schedule = chosen[0]
    try:
        schedule.layer(layer)
    except ValueError as exc:
        fail(str(exc), 1)
    begin, finish = _when(start, schedule), _when(end, schedule)
    if finish <= begin:
        fail("--to must be after --from", 2)
    store = open_store()
    try:
        made = store.add_override(schedule.team, layer, person, begin, finish, reason, as_)
    finally:
        store.close()
    tz = schedule.tz
    out.print(
        f"override {made.id}: {person} holds {schedule.team}/{layer} "
        f"from {begin.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{finish.astimezone(tz):%Y-%m-%d %H:%M %Z}" + (f" ({reason})" if reason else "")
    )


@app.command("overrides")
def oncall_overrides(
    team: TeamOption = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Also the ended and cancelled ones, as history")
    ] = False,
) -> None:
    """The overrides made with `oncall override`: id, layer, who, when, why, who made it (cancel by id)."""
    rows = []
    at = datetime.now(UTC)
    store = open_store()
    try:
        for schedule in _teams(_roster(), team):
            tz = schedule.tz
            for o in store.overrides(schedule.team, None if everything else at, cancelled=everything):
                rows.append(
                    [
                        str(o.id),
                        schedule.team,
                        o.layer,
                        o.person,
                        f"{o.starts_at.astimezone(tz):%Y-%m-%d %H:%M}",
                        f"{o.ends_at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
                        o.reason or "-",
                        o.created_by,
                        _override_state(o, at, tz),
                    ]
                )
    finally:
        store.close()
    if not rows:
        out.print("no overrides" + ("" if everything else " in effect or coming (--all for history)"))
        return
    heads = ["ID", "TEAM", "LAYER", "PERSON", "FROM", "TO", "WHY", "BY", "STATE"]
    sys.stdout.write(columns(heads, rows))


def _override_state(o: OverrideRecord, at: datetime, tz: tzinfo) -> str:
    if o.cancelled_at is not None:
        why = f": {o.cancelled_why}" if o.cancelled_why else ""
        return f"cancelled by {o.cancelled_by} at {o.cancelled_at.astimezone(tz):%Y-%m-%d %H:%M}{why}"
    if o.ends_at <= at:
        return "ended"
    return "in effect" if o.starts_at <= at else "coming"


@app.command("cancel-override")
def oncall_cancel_override(
    override_id: Annotated[int, typer.Argument(metavar="ID", help="From `warroom oncall overrides`")],
    as_: Annotated[str, typer.Option("--as", help="Who cancels it (recorded)")],
    reason: Annotated[str, typer.Option(help="Why (recorded)")] = "",
) -> None:
    """End an override now (one not begun never counts): the schedule's own rotation holds the layer
    again. The override stays in the history, with who cancelled it and why."""
    from warroom.ledger import StoreError

    store = open_store()
    try:
        o = store.cancel_override(override_id, as_, reason)
    except StoreError as exc:
        fail(str(exc), 1)
    finally:
        store.close()
    out.print(f"override {o.id} cancelled: {o.person} no longer holds {o.team}/{o.layer} from now on")


@app.command("export")
def oncall_export(
    ics: Annotated[bool, typer.Option("--ics", help="iCalendar (RFC 5545), for calendar apps")] = True,
    team: TeamOption = None,
    days: Annotated[int, typer.Option(min=1, max=731)] = 90,
    output: Annotated[Path | None, typer.Option("--out", help="Write to this file (default: stdout)")] = None,
) -> None:
    """The shifts of the next --days as an iCalendar feed people import into their calendars."""
    if not ics:
        fail("only --ics is offered", 2)
    schedules = _teams(_roster(), team)
    start = datetime.now(UTC)
    # From each rotation's own start, not from now: the shift on call now keeps its real start, and so the
    # same UID each export (a calendar that re-imports the feed updates it instead of adding a second).
    found = [
        shift
        for schedule in schedules
        for shift in _shifts(
            [schedule], datetime.combine(schedule.rotation.start, time()), start + timedelta(days=days)
        )
        if shift.end > start
    ]
    text = calendar(found, start)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8", newline="")
        out.print(f"wrote {output}")


@app.command("check")
def oncall_check() -> None:
    """Validate every schedule; each problem as FILE:LINE: field: message. Exit 1 when any."""
    found = roster(get_settings())
    for p in found.problems:
        out.print(str(p), soft_wrap=True)
    if found.problems:
        raise typer.Exit(1)
    out.print(f"{len(found.schedules)} schedule(s) valid")


@app.command("load")
def oncall_load(
    since: Annotated[str, typer.Option(help="Period: 30d, 12w")] = "30d",
    team: TeamOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pages, off-hours pages, incidents commanded and hours on call per person, with hero and burnout
    warnings."""
    try:
        period = parse_duration(since)
    except ValueError as exc:
        fail(str(exc), 2)
    found = _roster()
    schedules = _teams(found, team) if found.schedules else []
    end = datetime.now(UTC)
    start = end - period
    store = open_store()
    try:
        pages = store.pages_since(start)
        incidents = store.list_incidents(since=start)
        on_call = [s for sch in schedules for s in shifts(sch, start, end, cli_overrides(store, sch.team))]
    finally:
        store.close()
    zones = {p: sch.person_tz(p) for sch in schedules for p in sch.members()}
    default = schedules[0].tz if schedules else ZoneInfo("UTC")
    report = load_report(pages, incidents, on_call, zones, default, period)
    if as_json:
        dump_json({"version": JSON_VERSION, "since": start.isoformat(), "load": [vars(r) for r in report]})
        return
    rows = [
        [r.person, str(r.pages), str(r.off_hours), str(r.commanded), f"{r.hours_on_call:.0f}"] for r in report
    ]
    sys.stdout.write(columns(["PERSON", "PAGES", "OFF-HOURS", "COMMANDED", "HOURS ON CALL"], rows))
    for r in report:
        for warning in r.warnings:
            out.print(f"warning: {r.person}: {warning}", soft_wrap=True)
