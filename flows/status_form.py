"""Publishing to the status page from the Prefect UI: run the `status/publish` deployment with the incident,
your name and the state; the run then shows Warroom's draft on its own page, as a form you edit, with the
code of your authenticator's *Warroom acknowledge* entry to prove who you are (never a parameter, read and
deleted at the next poll, as the acknowledge deployment does). The words published are the form's."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.input import RunInput
from pydantic import Field, create_model

from flows.pause import PauseRefused, RunLeftPause, ask_once
from flows.status_page import StatusRefused, draft_for, publish_status
from warroom.acknowledge import code_refusal
from warroom.events import EventKind
from warroom.ledger import Store
from warroom.settings import get_settings
from warroom.status.model import PublicState

PUBLISH_PAUSE = "publish-status"


class NotPublished(Exception):
    """Nothing was published; the message says why."""


def _form(title: str, text: str) -> type[RunInput]:
    return create_model(
        "PublishForm",
        __base__=RunInput,
        title=(str, Field(default=title, max_length=300, title="Public title")),
        text=(str, Field(default=text, max_length=4000, title="Your update", description="Edit the draft")),
        code=(
            str,
            Field(
                max_length=20,
                title="Acknowledgement code",
                description="The 6 digits of the 'Warroom acknowledge' entry in your authenticator app",
            ),
        ),
    )


def _ask(incident_id: str, person: str, title: str, text: str, wait: float, poll: float) -> dict[str, Any]:
    form: Any = _form(title, text)
    form._description = (
        f"**{person}** publishes on the status page for **{incident_id}**: edit Warroom's draft, then "
        "enter the code from your authenticator's *Warroom acknowledge* entry."
    )
    try:
        return ask_once(
            PUBLISH_PAUSE, form, f"waiting for {person}'s status update for {incident_id}", wait, poll
        )
    except PauseRefused as exc:
        raise NotPublished(f"{incident_id}: not published: {exc}") from None
    except RunLeftPause as exc:
        raise NotPublished(f"{incident_id}: not published: the run became {exc}") from None


@flow(name="status", log_prints=True)
def publish(incident: str, person: str, state: PublicState = PublicState.INVESTIGATING) -> str:
    """Publish the public status page's next update for an incident, in your words.

    Args:
        incident: The incident, as INC-N (e.g. INC-42).
        person: Your name as registered (the comms lead or the commander); the run then shows the draft to
            edit and asks for your 'Warroom acknowledge' code, which proves it.
        state: investigating, identified, monitoring or resolved.
    """
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        found = store.get(incident)
        draft = draft_for(store, settings, found.number, state)
        answer = _ask(
            found.id,
            person,
            draft.title,
            draft.text,
            settings.ack_form_seconds,
            settings.approval_poll_seconds,
        )
        code = str(answer.get("code") or "").strip()
        why = code_refusal(store, settings, found.number, person, code, f"{int(settings.ack_form_seconds)}s")
        if why:
            store.append(
                found.number,
                EventKind.STATUS_REFUSED,
                f"status page post as {person} through the Prefect UI refused: {why}",
                actor=person,
                data={"state": state.value, "via": "prefect-ui"},
            )
            raise NotPublished(f"{found.id}: not published: {why}")
        try:
            done = publish_status(
                store,
                settings,
                found.number,
                person,
                state,
                str(answer.get("text") or draft.text),
                title=str(answer.get("title") or draft.title),
                via="prefect-ui",
            )
        except StatusRefused as exc:
            raise NotPublished(str(exc)) from None
    finally:
        store.close()
    said = f"{found.id}: {state.value} published by {person}" + (f"; {done.vendor}" if done.vendor else "")
    print(said)
    return said
