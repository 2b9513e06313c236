"""Who may assign an incident's roles, and to whom.

The incident commander assigns; while nobody commands, anyone may (the first to act takes charge, as an
acknowledgement does). A change of commander is a handover, recorded as one, from whom to whom and by whom.
A role goes only to a person Warroom knows (an on-call schedule's member, an approver group's, an enrolled
approver, or someone already holding a role) unless the assigner forces it: a typo at 3 a.m. must not
hand command to nobody. The commander holds no other role, so they stay free to command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warroom.events import EventKind
from warroom.incident import Incident, Role
from warroom.ledger import Store
from warroom.oncall.current import roster
from warroom.settings import Settings
from warroom.severity import SeverityPolicy


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
        people.update(schedule.people, schedule.members(), (o.person for o in schedule.overrides))
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
        incident = store.assign_role(incident.number, w.role, w.person, actor=actor)
        if w.role is Role.COMMANDER and before not in (None, w.person):
            store.append(
                incident.number,
                EventKind.COMMAND_HANDED_OVER,
                f"command handed over from {before} to {w.person} by {actor}",
                actor=actor,
                data={"from": before, "to": w.person, "by": actor},
            )
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


def roles_from_oncall(
    store: Store, incident: Incident, oncall: Mapping[str, list[str]], policy: SeverityPolicy
) -> Incident:
    """At triage, the roles nobody holds yet from who is on call: the primary commands when the level's
    policy says so (or pages nobody; else the first to acknowledge does), the comms on-call leads comms
    unless they are the commander."""
    takes_command = policy.commander == "primary" or not policy.page
    primary, comms = oncall.get("primary") or [], oncall.get("comms") or []
    if incident.roles.commander is None and takes_command and primary:
        incident = store.assign_role(incident.number, Role.COMMANDER, primary[0])
    if incident.roles.comms_lead is None and comms and comms[0] != incident.roles.commander:
        incident = store.assign_role(incident.number, Role.COMMS_LEAD, comms[0])
    return incident
