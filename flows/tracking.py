"""Keeping the tracker in step with the ledger: the incident, its review and each action item opened once
(the tracker's key kept in the ledger), and action items closed there read back as done. The ledger stays
the source of truth: a tracker that is down or refuses is on the timeline, and the next sync catches up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from prefect import flow

from tasks.trackers import TaskSpec, TrackerError, tracker
from warroom.events import EventKind
from warroom.incident import ActionItemStatus, Incident, Status
from warroom.ledger import Store
from warroom.settings import Settings, get_settings


def incident_title(incident: Incident) -> str:
    return f"[{incident.severity.value}] {incident.title} {incident.detected_at:%Y-%m-%d}"


@dataclass
class Synced:
    """What a sync did: one line per change or failure, and how many the tracker refused (each on the
    timeline; the next sync tries again)."""

    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def __add__(self, other: Synced) -> Synced:
        return Synced([*self.lines, *other.lines], self.failed + other.failed)


def sync(settings: Settings, store: Store, ref: str | int, review_due: date | None = None) -> Synced:
    """Open what is not tracked yet, read back what is done."""
    chosen = tracker(settings.tracker)
    incident = store.get(ref)
    known = store.tracked(incident.number, chosen.name)
    synced = Synced()
    lines = synced.lines
    level = incident.severity.value.lower()

    def create(spec: TaskSpec) -> str | None:
        if spec.ref in known:
            return known[spec.ref].key
        try:
            made = chosen.create(spec, settings)
        except TrackerError as exc:
            store.append(
                incident.number,
                EventKind.TRACKER_FAILED,
                f"{chosen.name}: {spec.ref} not tracked yet: {exc}",
                data={"tracker": chosen.name, "ref": spec.ref},
            )
            lines.append(f"{incident.id}: {spec.ref} failed: {exc}")
            synced.failed += 1
            return None
        store.record_tracked(incident.number, spec.ref, chosen.name, made.key, made.url)
        lines.append(f"{incident.id}: {spec.ref} tracked as {made.key}")
        if spec.ref.startswith("action:") and made.url:
            store.update_action_item(int(spec.ref.split(":")[1]), tracker_url=made.url)
        return made.key

    summary = "\n\n".join(
        [
            f"{incident.id}: {incident.title}",
            f"Severity {incident.severity.value}, status {incident.status.value}, "
            f"commander {incident.roles.commander or '-'}.",
            f"Timeline: warroom incidents show {incident.id}; "
            f"post-mortem: warroom postmortem show {incident.id}",
        ]
    )
    parent = create(
        TaskSpec(
            "incident",
            incident_title(incident),
            summary,
            ["incident", f"severity/{level}"],
            incident.roles.commander,
        )
    )
    if parent is None:
        return synced  # subtasks need their parent; the next sync tries again
    if review_due is not None:
        create(
            TaskSpec(
                "review",
                f"Post-mortem review: {incident.id} {incident.title}",
                f"Review the blameless post-mortem of {incident.id}.",
                ["postmortem", f"severity/{level}"],
                incident.roles.commander,
                review_due,
                parent,
            )
        )
    for item in store.action_items(incident.id):
        if item.status is ActionItemStatus.CANCELLED:
            continue
        key = create(
            TaskSpec(
                f"action:{item.id}",
                item.title,
                f"Action item from {incident.id}: {item.title}",
                ["action-item", f"severity/{level}"],
                item.owner,
                item.due,
                parent,
            )
        )
        if key is None or item.status is not ActionItemStatus.OPEN:
            continue
        try:
            done = chosen.is_done(key, settings)
        except TrackerError as exc:
            store.append(
                incident.number,
                EventKind.TRACKER_FAILED,
                f"{chosen.name}: reading {key}: {exc}",
                data={"tracker": chosen.name, "ref": f"action:{item.id}"},
            )
            lines.append(f"{incident.id}: reading {key} failed: {exc}")
            synced.failed += 1
            continue
        if done:
            store.update_action_item(item.id, status=ActionItemStatus.DONE, actor=chosen.name)
            lines.append(f"{incident.id}: action item {item.id} done in {chosen.name}")
    return synced


def sync_all(settings: Settings, store: Store, days: int = 30) -> Synced:
    """Every incident that may owe the tracker something: open action items, or resolved in ``days``."""
    since = datetime.now(UTC) - timedelta(days=days)
    numbers = {int(i.incident.split("-")[1]) for i in store.action_items(None, status=ActionItemStatus.OPEN)}
    numbers |= {
        i.number
        for i in store.list_incidents(status=[Status.RESOLVED, Status.CLOSED], since=since)
        if i.resolved_at is not None
    }
    return sum((sync(settings, store, n) for n in sorted(numbers)), Synced())


@flow(name="tracker-sync", log_prints=True)
def tracker_sync() -> str:
    """Scheduled by `warroom up`: the tracker catches up with the ledger, and the ledger with what was
    closed in the tracker."""
    settings = get_settings()
    store = Store.from_settings(settings)
    try:
        synced = sync_all(settings, store)
    finally:
        store.close()
    said = "\n".join(synced.lines) or "tracker up to date"
    print(said)
    if synced.failed:  # the run shows as failed in the UI; each refusal is on its incident's timeline
        raise RuntimeError(f"the tracker refused {synced.failed} change(s):\n{said}")
    return said
