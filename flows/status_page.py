"""Publishing to the public status page: who may (the comms lead or the commander, as for every
stakeholder update), the post on Warroom's own page and the timeline in one transaction, then the same
update on a vendor's page when one is set (a failing vendor is on the timeline once and the keeper tries
again: nothing is lost); and the status page's cadence, whose late updates the keeper writes as
``status.due``. The CLI, the room's ``/warroom publish`` and the ``status/publish`` deployment all post
through ``publish_status``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tasks.statuspage import PublicUpdate, StatusPageError, StatusPageProvider, status_provider
from warroom.chat.cadence import public_reminders_due, remind, update_refusal
from warroom.duration import format_duration
from warroom.events import EventKind
from warroom.incident import Status
from warroom.ledger import Store, now
from warroom.oncall.current import chat_ids
from warroom.settings import Settings
from warroom.status.draft import PublicDraft, public_draft
from warroom.status.model import ComponentState, PublicState, StatusPost, StatusSettings

log = logging.getLogger("warroom.status")


class StatusRefused(ValueError):
    """The post was not published; the message says why (recorded on the timeline when it was who)."""


@dataclass(frozen=True)
class Published:
    post: StatusPost
    vendor: str | None  # "published on atlassian as ID", or why not yet (the keeper tries again)


def status_ready(settings: Settings) -> str | None:
    """At start-up: the vendor's page posts also go to (None without one); StatusPageError naming what to
    set when it cannot take them, so a bad key stops `warroom up` rather than the first post."""
    provider = status_provider(settings)
    return None if provider is None else provider.check(settings)


def draft_for(store: Store, settings: Settings, ref: str | int, state: PublicState) -> PublicDraft:
    incident = store.get(ref)
    return public_draft(
        incident,
        store.timeline(incident.number),
        store.status_posts(incident.number),
        settings.of(StatusSettings),
        state,
    )


def publish_status(
    store: Store,
    settings: Settings,
    ref: str | int,
    person: str | None,
    state: PublicState,
    text: str,
    *,
    title: str | None = None,
    components: Mapping[str, ComponentState] | None = None,
    via: str = "cli",
) -> Published:
    """Publish ``text`` (the person's words) as the public incident's next update."""
    incident = store.get(ref)
    words = " ".join(text.split())
    why = update_refusal(incident, person)
    if why is not None or person is None:
        store.append(
            incident.number,
            EventKind.STATUS_REFUSED,
            f"status page post by {person or 'nobody'} from {via} refused: {why}",
            actor=person or "unknown",
            data={"state": state.value, "via": via},
        )
        raise StatusRefused(f"{incident.id}: not published: {why}")
    if not words:
        raise StatusRefused(f"{incident.id}: not published: a status update needs its words")
    draft = draft_for(store, settings, incident.number, state)
    states = dict(draft.components)
    states.update(components or {})
    posted = now()
    next_at = posted + draft.every if draft.every and state is not PublicState.RESOLVED else None
    shown = ", ".join(f"{c} {s.words}" for c, s in states.items())
    post, _ = store.add_status_post(
        incident.number,
        title=(title or draft.title).strip(),
        state=state,
        text=words[:4000],
        components=states,
        author=person,
        started_at=draft.started_at,
        next_update_at=next_at,
        event_text=f"status page: {state.value}: {words[:300]} ({shown})",
        event_data={
            "state": state.value,
            "components": {c: s.value for c, s in states.items()},
            "next_update_at": next_at.isoformat() if next_at else None,
            "via": via,
        },
    )
    try:
        provider = status_provider(settings)
    except StatusPageError as exc:
        return Published(post, str(exc))
    return Published(post, None if provider is None else _publish(store, settings, provider, post))


def _publish(store: Store, settings: Settings, provider: StatusPageProvider, post: StatusPost) -> str:
    """The post on the vendor's page; a line saying how it went."""
    known = store.published_as(post.incident, provider.name)
    update = PublicUpdate(
        incident=f"INC-{post.incident}",
        title=post.title,
        state=post.state,
        text=post.text,
        components=post.components,
        started_at=post.started_at,
        external_id=known,
    )
    try:
        external = provider.publish(update, settings)
    except StatusPageError as exc:
        if store.publication_tried(post.id, provider.name, external_id=known, error=str(exc)):
            store.append(
                post.incident,
                EventKind.STATUS_PUBLISH_FAILED,
                f"status page {provider.name} refused the update, tried again until it takes: {exc}",
                data={"provider": provider.name, "post": post.id},
            )
        return f"not yet on {provider.name}: {exc}"
    store.publication_tried(post.id, provider.name, external_id=external, error=None)
    store.append(
        post.incident,
        EventKind.STATUS_PUBLISHED,
        f"status page update published on {provider.name} ({external})",
        data={"provider": provider.name, "post": post.id, "external_id": external},
        key=f"status-published:{post.id}:{provider.name}",
    )
    return f"published on {provider.name} as {external}"


def keep_status(settings: Settings, store: Store, at: datetime | None = None) -> list[str]:
    """One keeper pass: posts a vendor's page does not hold yet, and the status page's late updates owed at
    ``at`` (now when not given)."""
    done: list[str] = []
    provider = status_provider(settings)
    if provider is not None:
        for post in store.unpublished(provider.name):
            said = _publish(store, settings, provider, post)
            done.append(f"INC-{post.incident}: status update {post.id} {said}")
    done += _remind(settings, store, at or now())
    return done


def _remind(settings: Settings, store: Store, at: datetime) -> list[str]:
    # Every open incident: a runbook may ask for a status page at a level whose policy does not, and the
    # newest communication plan on the timeline is what says so.
    wanting = store.list_incidents(status=[s for s in Status if s.is_open])
    if not wanting:
        return []
    mentions = chat_ids(settings)
    done = []
    for incident in wanting:
        timeline = store.timeline(incident.number)
        for due in public_reminders_due(incident, timeline, at):
            every = format_duration(due.cadence.every)
            who = due.person or "nobody holds the role"
            first = due.cadence.mark == 0
            if due.level == 1:
                text = (
                    f"the status page {'says nothing yet' if first else f'has had no update for {every}'} "
                    f"(due {due.cadence.next_due:%H:%M} UTC): {who}, publish with `/warroom publish STATE "
                    "TEXT` or `warroom status post`"
                )
            else:
                late = format_duration(due.late_by)
                text = f"the status page is {late} without an update: {who}, as commander"
            remind(store, incident, EventKind.STATUS_DUE, due, text, mentions.get(due.person or ""))
            done.append(f"{incident.id}: {text}")
    return done
