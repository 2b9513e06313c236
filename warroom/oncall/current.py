"""Who is on call now, as the rest of Warroom asks it: the team schedules (YAML) with the overrides made
from the CLI (ledger) laid over them; the static ``oncall`` setting for a set-up without schedules."""

from __future__ import annotations

from datetime import UTC, datetime

from warroom.filecache import shared
from warroom.ledger import Store
from warroom.oncall.loading import Roster, load_roster
from warroom.oncall.model import Override, Schedule
from warroom.oncall.rotation import who
from warroom.settings import Settings


def roster(settings: Settings) -> Roster:
    """The team schedules as this process last read them, read again after any edit of the directory."""
    return shared("oncall", settings.oncall_dir, lambda d: load_roster([d])).get()


def chat_ids(settings: Settings) -> dict[str, str]:
    """Each person's chat user id, from the schedules' ``people`` (the first schedule naming one wins)."""
    found: dict[str, str] = {}
    for schedule in roster(settings).schedules.values():
        for person, contact in schedule.people.items():
            if contact.slack:
                found.setdefault(person, contact.slack)
    return found


def cli_overrides(store: Store, team: str, ending_after: datetime | None = None) -> list[Override]:
    return [
        Override.model_validate(
            {
                "layer": o.layer,
                "person": o.person,
                "from": o.starts_at,
                "to": o.effective_end,
                "reason": o.reason,
            }
        )
        for o in store.overrides(team, ending_after)
    ]


def team_of(settings: Settings, found: Roster, team: str | None) -> Schedule | None:
    """The schedule that answers for ``team`` (else the default team, else the only schedule)."""
    name = team or settings.default_team
    if name is None and len(found.schedules) != 1:
        return None
    return found.team(name) if (name in found.schedules or name is None) else None


def on_call(
    settings: Settings, store: Store, team: str | None = None, at: datetime | None = None
) -> dict[str, list[str]]:
    """name -> people on call now, current first: each layer of ``team``'s schedule (``primary``, …),
    ``TEAM/LAYER`` for every team's layers, and the static ``oncall`` setting where no schedule answers."""
    at = at or datetime.now(UTC)
    out: dict[str, list[str]] = {k: list(v) for k, v in settings.oncall.items()}
    found = roster(settings)
    mine = team_of(settings, found, team)
    for schedule in found.schedules.values():
        extra = cli_overrides(store, schedule.team, at)
        for layer in schedule.layers:
            person, _, _ = who(schedule, layer.name, at, extra)
            people = [person] if person else []
            out[f"{schedule.team}/{layer.name}"] = people
            if schedule is mine:
                out[layer.name] = people
    return out
