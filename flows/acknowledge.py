"""Acknowledging an incident from the Prefect UI: run the `acknowledge/take-an-incident` deployment with
the incident and your name; the run then asks, on its own page, for the code from your authenticator's
*Warroom acknowledge* entry.

The code is never a run parameter: a parameter waits in Prefect, readable by every API user, until a
worker picks the run up. As run input it is there only until the next poll of this run, which reads and
deletes it. And it comes from the acknowledgement secret, so even read in that moment it cannot answer an
approval gate: an acknowledgement code proves nothing but an acknowledgement.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.input import RunInput
from pydantic import Field

from flows.pause import PauseRefused, RunLeftPause, ask_once
from warroom.acknowledge import acknowledge as take
from warroom.acknowledge import code_refusal, refuse_ended
from warroom.events import EventKind
from warroom.ledger import Store, now
from warroom.settings import get_settings

ACK_PAUSE = "acknowledge"


class NotAcknowledged(Exception):
    """The answer did not prove who is acknowledging; nothing changed."""


class AckForm(RunInput):
    code: str = Field(
        max_length=20,
        title="Acknowledgement code",
        description="The 6 digits of the 'Warroom acknowledge' entry in your authenticator app",
    )


def _ask_for_code(incident_id: str, person: str, wait_seconds: float, poll: float) -> str:
    form: Any = AckForm
    form._description = (
        f"**{person}** takes **{incident_id}**: enter the code from your authenticator's "
        "*Warroom acknowledge* entry."
    )
    try:
        answer = ask_once(
            ACK_PAUSE,
            form,
            f"waiting for {person}'s acknowledgement code for {incident_id}",
            wait_seconds,
            poll,
        )
    except PauseRefused as exc:
        raise NotAcknowledged(f"{incident_id} not acknowledged: {exc}") from None
    except RunLeftPause as exc:
        raise NotAcknowledged(f"{incident_id} not acknowledged: the run became {exc}") from None
    return str(answer.get("code") or "").strip()


@flow(name="acknowledge", log_prints=True)
def acknowledge(incident: str, person: str) -> str:
    """Take an incident: stops its pages; the first to acknowledge becomes commander when nobody is.

    Args:
        incident: The open incident you take, as INC-N (e.g. INC-42); a resolved one is refused.
        person: Your name as registered with `warroom approvers register` (e.g. alice); the run then asks
            for the 6-digit code of your authenticator's 'Warroom acknowledge' entry, which proves it.
    """
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        found = store.get(incident)
        try:
            refuse_ended(found)
        except ValueError as exc:
            raise NotAcknowledged(str(exc)) from None
        asked_at = now()
        code = _ask_for_code(found.id, person, settings.ack_form_seconds, settings.approval_poll_seconds)
        waited = f"{int(settings.ack_form_seconds)}s of {asked_at:%H:%M:%S} UTC"
        why = code_refusal(store, settings, found.number, person, code, waited)
        if why:
            store.append(
                found.number,
                EventKind.INCIDENT_ACKNOWLEDGE_REFUSED,
                f"acknowledgement as {person} through the Prefect UI refused: {why}",
            )
            raise NotAcknowledged(f"{found.id} not acknowledged: {why}")
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
