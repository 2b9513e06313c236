"""Recent Kubernetes events about a Deployment and what it owns (read only)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from tasks.kubernetes.client import Target, connect
from tasks.kubernetes.diagnostics.revisions import where
from tasks.kubernetes.models import (
    EventsParams,
    EventsResult,
)
from tasks.kubernetes.objects import (
    Obj,
    meta,
    parse_time,
)
from tasks.kubernetes.reads import read_deployment, replica_sets
from tasks.step import step
from warroom.duration import format_duration
from warroom.redact import redact_text
from warroom.steps import StepKind


def _event_time(ev: Obj) -> datetime | None:
    series = ev.get("series") or {}
    return (
        parse_time(series.get("lastObservedTime"))
        or parse_time(ev.get("lastTimestamp"))
        or parse_time(ev.get("eventTime"))
        or parse_time(meta(ev).get("creationTimestamp"))
    )


@step("kubernetes.events", StepKind.DIAGNOSTIC)
def events(params: EventsParams) -> EventsResult:
    """Recent warning events of a Deployment, its ReplicaSets and their pods (including pods already
    replaced), newest first. Reads only: 3 API calls (the namespace's warnings in one list)."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rs_names = {meta(rs)["name"] for rs in replica_sets(kube, d)}
    listed = kube.call(
        Target("list", "events", namespace=params.namespace),
        kube.core.list_namespaced_event,
        params.namespace,
        field_selector="type=Warning",
    )
    since = datetime.now(UTC) - params.since
    prefixes = tuple(f"{n}-" for n in rs_names)

    def ours(ev: Obj) -> bool:
        obj = ev.get("involvedObject") or {}
        kind, name = obj.get("kind"), str(obj.get("name", ""))
        return (
            (kind == "Deployment" and name == params.deployment)
            or (kind == "ReplicaSet" and name in rs_names)
            or (kind == "Pod" and name.startswith(prefixes))
        )

    found = []
    for ev in listed.get("items") or []:
        when = _event_time(ev)
        if ours(ev) and (when is None or when >= since):
            found.append((when or since, ev))
    found.sort(key=lambda pair: pair[0], reverse=True)
    reasons = Counter(str(ev.get("reason", "")) for _, ev in found)
    warnings: list[dict[str, str | int]] = [
        {
            "kind": str((ev.get("involvedObject") or {}).get("kind", "")),
            "name": str((ev.get("involvedObject") or {}).get("name", "")),
            "reason": str(ev.get("reason", "")),
            "message": redact_text(str(ev.get("message", "")))[:500],
            "count": int(ev.get("count") or (ev.get("series") or {}).get("count") or 1),
            "last_seen": when.isoformat(),
        }
        for when, ev in found[: params.limit]
    ]
    summary = f"{where(params)}: {len(found)} warning events in the last {format_duration(params.since)}"
    if reasons:
        summary += " (" + ", ".join(f"{r} x{n}" for r, n in reasons.most_common(4)) + ")"
    return EventsResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        total=len(found),
        reasons=dict(reasons.most_common()),
        warnings=warnings,
    )
