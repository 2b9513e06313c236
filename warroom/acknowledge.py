"""Taking an incident: the first acknowledgement stops the time-to-acknowledge clock and the pages, and
its author becomes incident commander when nobody commands it yet (the CLI, chat's button, the UI)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from warroom.events import EventKind
from warroom.identity import Identity, Purpose, check_signature, spend_code
from warroom.incident import Incident, Role
from warroom.ledger import Store
from warroom.settings import Settings
from warroom.signing import Signer, ack_message


@dataclass(frozen=True)
class Taken:
    incident: Incident
    first: bool  # this acknowledgement was the first


def acknowledge(store: Store, ref: str | int, person: str, via: str) -> Taken:
    """Take an open incident; ValueError for one that is resolved or closed (nobody is paged for it)."""
    before = store.get(ref)
    refuse_ended(before)
    incident = store.acknowledge(before.number, actor=person)
    if before.acknowledged_at is None and via != "cli":
        store.append(
            incident.number,
            EventKind.INCIDENT_ACKNOWLEDGED_VIA,
            f"{person} acknowledged through {via}",
            actor=person,
        )
    if incident.roles.commander is None:
        incident = store.assign_role(incident.number, Role.COMMANDER, person, actor=person)
    return Taken(incident, before.acknowledged_at is None)


def refuse_ended(incident: Incident) -> None:
    """A resolved or closed incident has nothing to acknowledge: taking it would record a false time."""
    if not incident.status.is_open:
        raise ValueError(f"{incident.id} is {incident.status.value}: there is nothing to acknowledge")


def code_refusal(
    store: Store, settings: Settings, ref: str | int, person: str, code: str, waited: str
) -> str:
    """Why a code typed on a run's own Prefect form does not prove ``person`` ('' when it does; ``waited``
    says for how long nobody gave one)."""
    if not code:
        return f"no code was given within {waited}"
    identity = prove_acknowledger(store, settings, ref, person=person, code=code)
    return "" if identity.ok else identity.why


def prove_acknowledger(
    store: Store,
    settings: Settings,
    ref: str | int,
    *,
    signer: Signer | None = None,
    person: str | None = None,
    code: str | None = None,
) -> Identity:
    """Who takes the incident, proven: their own key's signature over this acknowledgement, or a code from
    their acknowledgement secret (spent). A name alone proves nothing."""
    incident = store.get(ref)
    if signer is not None:
        # Signed and checked here, on the host, against the key the ledger holds for the signer's name.
        message = ack_message(incident=incident.id, person=signer.name, at=int(time.time()))
        return check_signature(store, signer.name, message, signer.sign(message))
    if person and code:
        return spend_code(store, settings, person, code, incident.number, purpose=Purpose.ACKNOWLEDGE)
    return Identity(
        False, "an acknowledgement needs your signing key, or --as NAME with an acknowledgement code"
    )
