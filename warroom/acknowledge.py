"""Taking an incident: the first acknowledgement stops the time-to-acknowledge clock and the pages, and
its author becomes incident commander when nobody commands it yet (the CLI, chat's button, the UI)."""

from __future__ import annotations

from dataclasses import dataclass

from warroom.incident import Incident, Role
from warroom.ledger import Store


@dataclass(frozen=True)
class Taken:
    incident: Incident
    first: bool  # this acknowledgement was the first


def acknowledge(store: Store, ref: str | int, person: str, via: str) -> Taken:
    before = store.get(ref)
    incident = store.acknowledge(before.number, actor=person)
    if before.acknowledged_at is None and via != "cli":
        store.append(
            incident.number, "incident.acknowledged.via", f"{person} acknowledged through {via}", actor=person
        )
    if incident.roles.commander is None:
        incident = store.assign_role(incident.number, Role.COMMANDER, person, actor=person)
    return Taken(incident, before.acknowledged_at is None)
