"""Reading a Deployment's revisions: which ReplicaSet is current, which came before, when it last changed."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.kubernetes.models import (
    DeploymentRef,
)
from tasks.kubernetes.objects import (
    HASH_LABEL,
    REVISION_HISTORY,
    Obj,
    annotations_of,
    condition,
    meta,
    parse_time,
    revision_of,
)


def revision_by_hash(rss: list[Obj]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rs in rss:
        pod_hash = (
            ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(HASH_LABEL)
        )
        revision = revision_of(rs)
        if pod_hash and revision is not None:
            out[pod_hash] = revision
    return out


def current_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    revision = revision_of(d)
    return next((rs for rs in rss if revision_of(rs) == revision), None)


def previous_replica_set(d: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet of the newest revision before the Deployment's current one (rss: newest first)."""
    current = revision_of(d) or 0
    return next((rs for rs in rss if (revision_of(rs) or 0) < current), None)


def minutes_since(when: datetime | None) -> float | None:
    if when is None:
        return None
    return round((datetime.now(UTC) - when).total_seconds() / 60, 1)


def last_changed_at(d: Obj, current: Obj | None) -> datetime | None:
    """When the current revision took over: its ReplicaSet's creation, or, for a ReplicaSet brought
    back by a rollback (it has a revision history), the Progressing condition's update naming it."""
    if current is None:
        return None
    created = parse_time(meta(current).get("creationTimestamp"))
    if REVISION_HISTORY not in annotations_of(current):
        return created
    progressing = condition(d, "Progressing") or {}
    if f'"{meta(current).get("name")}"' in str(progressing.get("message", "")):
        updated = parse_time(progressing.get("lastUpdateTime"))
        if updated and (created is None or updated > created):
            return updated
    return created


def where(ref: DeploymentRef) -> str:
    return f"{ref.namespace}/{ref.deployment}"


# --- steps -----------------------------------------------------------------------------------------
