"""Who may assign an incident's roles, and to whom.

The incident commander assigns; while nobody commands, anyone may (the first to act takes charge, as an
acknowledgement does). A change of commander is a handover, recorded as one, from whom to whom and by whom.
A role goes only to a person Warroom knows (an on-call schedule's member, an approver group's, an enrolled
approver, or someone already holding a role) unless the assigner forces it: a typo at 3 a.m. must not
hand command to nobody. The commander holds no other role, so they stay free to command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from warroom.events import EventKind
from warroom.incident import Incident, Role
from warroom.ledger import Store
from warroom.oncall.current import roster
from warroom.settings import Settings


class AssignmentRefused(ValueError):
    """An assignment the rules do not allow, with why and what would be allowed."""


@dataclass(frozen=True)
class Wanted:
    role: Role
    person: str


def known_people(store: Store, settings: Settings, incident: Incident) -> set[str]:
    """Everyone a role may go to without forcing it."""
    people: set[str] = set(store.approver_names())
    for members in settings.approver_groups.values():
        people.update(members)
    for schedule in roster(settings).schedules.values():
        people.update(schedule.people)
        for layer in schedule.layers:
            people.update(layer.members)
        people.update(o.person for o in schedule.overrides)
    r = incident.roles
    people.update(p for p in (r.commander, r.comms_lead, *r.responders, *r.smes) if p)
    return people


def refusal(
    incident: Incident, actor: str, wanted: Sequence[Wanted], known: set[str], force: bool
) -> str | None:
    """Why ``actor`` may not make these assignments on ``incident``, or None when they may."""
    commander = incident.roles.commander
    if commander is not None and actor != commander:
        return f"{commander} commands {incident.id}: only they assign its roles (or hand command over)"
    new_commander = next((w.person for w in wanted if w.role is Role.COMMANDER), commander)
    for w in wanted:
        if not force and w.person not in known:
            return (
                f"{w.person!r} is in no on-call schedule, approver group or enrolment: check the name, "
                "or give --force to assign them anyway"
            )
        if w.role in (Role.RESPONDER, Role.SME, Role.COMMS_LEAD) and w.person == new_commander:
            return f"{w.person} commands {incident.id}: the commander holds no other role"
    return None


def assign_roles(
    store: Store,
    ref: str | int,
    actor: str,
    wanted: Sequence[Wanted],
    known: set[str],
    *,
    force: bool = False,
) -> Incident:
    """Make the assignments, each on the timeline; a change of commander also as a handover. Raises
    :class:`AssignmentRefused` (nothing assigned) when the rules do not allow them."""
    incident = store.get(ref)
    why = refusal(incident, actor, wanted, known, force)
    if why is not None:
        raise AssignmentRefused(why)
    for w in sorted(wanted, key=lambda w: w.role is not Role.COMMANDER):  # command first: it frees the rest
        before = incident.roles.commander
        if w.role is Role.COMMANDER and before is not None and before != w.person:
            incident = store.assign_role(incident.number, w.role, w.person, actor=actor)
            store.append(
                incident.number,
                EventKind.COMMAND_HANDED_OVER,
                f"command handed over from {before} to {w.person} by {actor}",
                actor=actor,
                data={"from": before, "to": w.person, "by": actor},
            )
            continue
        incident = store.assign_role(incident.number, w.role, w.person, actor=actor)
    forced = sorted({w.person for w in wanted if w.person not in known})
    if forced:
        store.append(
            incident.number,
            EventKind.NOTE,
            f"{actor} assigned {', '.join(forced)}, whom no schedule or approver group knows (forced)",
            actor=actor,
            data={"forced": forced},
        )
    return incident
