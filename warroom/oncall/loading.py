"""Schedule files -> validated schedules, every problem as ``FILE:LINE: field: message``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from warroom.oncall.model import Schedule
from warroom.yamldoc import Invalid, Problem, pydantic_problems, read_yaml


class ScheduleInvalid(Invalid):
    """A schedule file with problems, each naming file, line and field."""


def parse_schedule(text: str, file: str = "<schedule>") -> Schedule:
    try:
        data, lines, problems = read_yaml(text, file)
    except Invalid as exc:
        raise ScheduleInvalid(exc.problems) from None
    if not isinstance(data, dict):
        raise ScheduleInvalid(
            [*problems, Problem(file, 1, "<schedule>", "a schedule is a YAML mapping (team, ...)")]
        )
    try:
        schedule = Schedule.model_validate(data)
    except ValidationError as exc:
        raise ScheduleInvalid(problems + pydantic_problems(exc, file, lines)) from None
    for i, h in enumerate(schedule.holidays):
        if h.person not in schedule.members():
            problems.append(
                Problem(
                    file,
                    lines.line(("holidays", i, "person")),
                    f"holidays[{i}].person",
                    f"{h.person!r} is in no layer of team {schedule.team}",
                )
            )
    if problems:
        raise ScheduleInvalid(sorted(problems, key=lambda p: p.line))
    return schedule


class UnknownTeam(ValueError):
    pass


@dataclass
class Roster:
    """The schedules of a directory: the valid ones by team, and the problems of the rest."""

    schedules: dict[str, Schedule] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def team(self, name: str | None) -> Schedule:
        """The schedule of ``name``; with no name, the only schedule there is."""
        if name is None:
            if len(self.schedules) == 1:
                return next(iter(self.schedules.values()))
            teams = ", ".join(self.schedules) or "none"
            raise UnknownTeam(f"name a team: there are {len(self.schedules)} schedules ({teams})")
        if name not in self.schedules:
            raise UnknownTeam(
                f"no on-call schedule for team {name!r} (teams: {', '.join(self.schedules) or 'none'})"
            )
        return self.schedules[name]


def schedule_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file())
        elif p.exists():
            out.append(p)
    return out


def load_roster(paths: Iterable[Path]) -> Roster:
    roster = Roster()
    for path in schedule_files(paths):
        try:
            schedule = parse_schedule(path.read_text(encoding="utf-8"), str(path))
        except ScheduleInvalid as exc:
            roster.problems += exc.problems
            continue
        except (OSError, UnicodeDecodeError) as exc:
            roster.problems.append(Problem(str(path), 1, "<file>", f"cannot read: {exc}"))
            continue
        if schedule.team in roster.schedules:
            roster.problems.append(Problem(str(path), 1, "team", f"team {schedule.team!r} has two schedules"))
            continue
        roster.schedules[schedule.team] = schedule
    return roster
