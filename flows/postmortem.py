"""Learn: when an incident resolves, its blameless post-mortem is drafted from the ledger (a file, and a
Prefect artifact on the incident), the review meeting is invited, and the incident and its action items are
tracked. It runs after a respond run resolves, for incidents resolved by hand, and again whenever asked:
sections the team filled in and tasks already tracked are never touched twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.response import Response, RunOutcome
from flows.tracking import sync
from warroom.events import EventKind
from warroom.incident import Status
from warroom.ledger import Store
from warroom.oncall.current import roster
from warroom.postmortem.files import review_invite, write_draft
from warroom.settings import Settings, get_settings
from warroom.severity import PostmortemPolicy


@dataclass(frozen=True)
class Learned:
    path: Path | None
    review: date | None
    tracked: list[str]


def owed(settings: Settings, store: Store, ref: str | int, runbook_says: bool | None = None) -> bool:
    incident = store.get(ref)
    if runbook_says is not None:
        return runbook_says
    return settings.policy(incident.severity).postmortem is PostmortemPolicy.REQUIRED


def learn(settings: Settings, store: Store, ref: str | int) -> Learned:
    """Draft (or re-draft) the post-mortem, invite the review, and track the follow-ups."""
    written = write_draft(settings, store, ref)
    incident = store.get(ref)
    if FlowRunContext.get() is not None:
        create_markdown_artifact(
            key=f"inc-{incident.number}-postmortem",
            markdown=written.text,
            description=f"{incident.id} post-mortem",
        )
    emails = {n: p.email for s in roster(settings).schedules.values() for n, p in s.people.items()}
    r = incident.roles
    people = [p for p in (r.commander, r.comms_lead, *r.responders, *r.smes) if p]
    invite, at = review_invite(settings, incident, {p: emails.get(p) for p in people})
    kept = f"; kept as the team wrote them: {', '.join(written.kept)}" if written.kept else ""
    store.append(
        incident.number,
        EventKind.POSTMORTEM_DRAFTED,
        f"post-mortem drafted at {written.path}{kept}; review {at:%Y-%m-%d %H:%M} UTC ({invite.name})",
        data={"path": str(written.path), "review": at.isoformat(), "kept": list(written.kept)},
    )
    tracked = sync(settings, store, incident.number, review_due=at.date())
    return Learned(written.path, at.date(), tracked.lines)


def resolve_by_hand(settings: Settings, store: Store, ref: str | int, *, actor: str, reason: str) -> Learned:
    """Resolved by a person (`warroom incidents resolve`, `/warroom resolve`): its post-mortem drafted and
    its follow-ups tracked, as for a run that resolves."""
    incident = store.set_status(ref, Status.RESOLVED, actor=actor, text=f"{reason} ({actor})")
    return learn(settings, store, incident.number)


def draft_postmortem(response: Response, outcome: RunOutcome) -> None:
    """The respond run's hand-off: once it has resolved the incident, the learning starts."""
    if outcome.outcome != "resolved":
        return
    if owed(
        response.settings, response.store, response.incident.number, response.runbook.postmortem.required
    ):
        learn(response.settings, response.store, response.incident.number)


@flow(name="postmortem", log_prints=True)
def postmortem(incident: str) -> str:
    """Draft the post-mortem of a resolved incident and track its follow-ups (safe to run again)."""
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        learned = learn(settings, store, incident)
    finally:
        store.close()
    said = f"{incident}: post-mortem at {learned.path}; review on {learned.review}; " + (
        "; ".join(learned.tracked) or "tracker up to date"
    )
    print(said)
    return said
