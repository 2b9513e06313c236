"""Acknowledging an incident from the Prefect UI: a small flow whose run form asks for the incident, who
takes it and their one-time code (`warroom approvers enroll`). The Prefect API is not a trust boundary, so
the code proves the person, and is spent in Warroom's ledger so it cannot be used twice."""

from __future__ import annotations

from prefect import flow

from warroom.acknowledge import acknowledge as take
from warroom.identity import check_code
from warroom.ledger import Store
from warroom.settings import get_settings


class NotAcknowledged(Exception):
    """The answer did not prove who is acknowledging; nothing changed."""


@flow(name="acknowledge", log_prints=True)
def acknowledge(incident: str, person: str, code: str) -> str:
    """Take an incident: stops its pages; the first to acknowledge becomes commander when nobody is."""
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        found = store.get(incident)
        identity = check_code(store, settings, person, code.strip())
        if (
            identity.ok
            and identity.counter is not None
            and not store.use_code(person, identity.counter, found.number, enrollment=identity.enrollment)
        ):
            identity = type(identity)(False, f"that one-time code of {person} was used before")
        if not identity.ok:
            store.append(
                found.number,
                "incident.acknowledge_refused",
                f"acknowledgement as {person} through the Prefect UI refused: {identity.why}",
            )
            raise NotAcknowledged(f"{found.id} not acknowledged: {identity.why}")
        taken = take(store, found.number, person, via="the Prefect UI")
    finally:
        store.close()
    said = (
        f"{taken.incident.id} acknowledged by {person}"
        if taken.first
        else f"{taken.incident.id} was acknowledged before"
    ) + f"; commander: {taken.incident.roles.commander}"
    print(said)
    return said
