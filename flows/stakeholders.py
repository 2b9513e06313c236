"""Leadership summaries: drafted from the incident, approved and sent by the comms lead (or the commander)
to the audience its severity names, and the resolution announced to the same people when it resolves.
Who an audience is lives in settings; each address goes by the channel that takes it (email over SMTP,
Slack, any apprise URL). What was sent, to whom, and what failed is on the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tasks.stakeholders import Delivery, StakeholderSettings, deliver
from warroom.chat.cadence import update_refusal
from warroom.events import EventKind
from warroom.incident import TimelineEvent
from warroom.ledger import Store, now
from warroom.ledger.status import RESOLUTION_KEY
from warroom.settings import Settings
from warroom.severity import policy_for
from warroom.status.draft import Summary, leadership_summary, resolution_announcement
from warroom.status.model import StatusSettings


class SummaryRefused(ValueError):
    """Not sent; the message says why."""


@dataclass(frozen=True)
class Sent:
    summary: Summary
    deliveries: list[Delivery]
    unknown: list[str]  # audiences settings do not name

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


def draft_summary(store: Store, settings: Settings, ref: str | int) -> Summary:
    incident = store.get(ref)
    return leadership_summary(
        incident,
        store.timeline(incident.number),
        store.status_posts(incident.number),
        policy_for(incident.severity, settings.severity),
        settings.of(StatusSettings),
        now(),
    )


def _send(
    store: Store,
    settings: Settings,
    number: int,
    summary: Summary,
    actor: str,
    *,
    resolution: bool = False,
) -> tuple[Sent, TimelineEvent | None]:
    audiences = settings.of(StakeholderSettings).audiences
    unknown = [a for a in summary.audience if not audiences.get(a)]
    addresses = [address for a in summary.audience for address in audiences.get(a, [])]
    deliveries = deliver(addresses, summary.subject, summary.body, settings) if addresses else []
    sent = Sent(summary, deliveries, unknown)
    reached = [d.address for d in deliveries if d.ok]
    event = None
    if reached:
        event = store.append(
            number,
            EventKind.SUMMARY_SENT,
            f"{'resolution announced' if resolution else 'leadership summary sent'} to "
            f"{', '.join(summary.audience)} ({len(reached)} address(es)): {summary.subject}",
            actor=actor,
            data={
                "audiences": summary.audience,
                "recipients": reached,
                "subject": summary.subject,
                "body": summary.body,
                "resolution": resolution,
            },
            key=RESOLUTION_KEY if resolution else None,
        )
    if sent.failed or unknown:
        why = [f"{d.address}: {d.error}" for d in sent.failed]
        why += [f"audience {a} has no addresses (WARROOM_STAKEHOLDERS_AUDIENCES)" for a in unknown]
        store.append(
            number,
            EventKind.SUMMARY_FAILED,
            f"{'resolution announcement' if resolution else 'leadership summary'} not delivered to "
            + "; ".join(why)[:1500],
            actor=actor,
            data={"failed": [d.address for d in sent.failed], "unknown": unknown, "resolution": resolution},
            # A resolution announcement is tried each keeper pass until one address takes it: said once.
            key=f"{RESOLUTION_KEY}:failed" if resolution else None,
        )
    return sent, event


def send_summary(
    store: Store,
    settings: Settings,
    ref: str | int,
    person: str | None,
    *,
    subject: str | None = None,
    body: str | None = None,
) -> Sent:
    """Send the summary (the draft, or the person's edit of it) to the severity's audience."""
    incident = store.get(ref)
    why = update_refusal(incident, person)
    if why is not None or person is None:
        raise SummaryRefused(f"{incident.id}: not sent: {why}")
    draft = draft_summary(store, settings, incident.number)
    summary = Summary(subject or draft.subject, (body or draft.body).strip(), draft.audience)
    if not summary.audience:
        raise SummaryRefused(f"{incident.id}: not sent: the communication plan names no audience")
    sent, _ = _send(store, settings, incident.number, summary, person)
    return sent


def announce_resolutions(settings: Settings, store: Store) -> list[str]:
    """The keeper's pass: each incident whose leadership had a summary and that has resolved since is
    announced to the audiences the last summary went to, once."""
    done = []
    for number in store.unannounced_resolutions(now() - timedelta(days=2)):
        incident = store.get(number)
        timeline = store.timeline(number)
        last = [e for e in timeline if e.kind is EventKind.SUMMARY_SENT][-1]
        audience = [str(a) for a in last.data.get("audiences") or []]
        summary = resolution_announcement(incident, store.status_posts(number), audience)
        sent, event = _send(store, settings, number, summary, "warroom", resolution=True)
        if event is None and not sent.deliveries:
            # Nobody reachable: written as sent to none, so it is not tried every pass.
            store.append(
                number,
                EventKind.SUMMARY_SENT,
                "resolution not announced: no address of the audience could be reached",
                data={"audiences": audience, "recipients": [], "resolution": True},
                key=RESOLUTION_KEY,
            )
        done.append(f"{incident.id}: resolution announced to {', '.join(audience)}")
    return done
