"""Rollout history and status of a Deployment (read only)."""

from __future__ import annotations

from tasks.kubernetes.client import connect
from tasks.kubernetes.diagnostics.revisions import (
    current_replica_set,
    last_changed_at,
    minutes_since,
    previous_replica_set,
    where,
)
from tasks.kubernetes.models import (
    DeploymentRef,
    DeploymentStatusResult,
    Revision,
    RolloutHistoryParams,
    RolloutHistoryResult,
)
from tasks.kubernetes.objects import (
    CHANGE_CAUSE,
    Obj,
    annotations_of,
    images,
    meta,
    parse_time,
    revision_of,
    rollout_status,
)
from tasks.kubernetes.reads import read_deployment, replica_sets
from tasks.step import step
from warroom.steps import StepKind


@step("kubernetes.rollout_history", StepKind.DIAGNOSTIC)
def rollout_history(params: RolloutHistoryParams) -> RolloutHistoryResult:
    """Revisions of a Deployment from its ReplicaSets (as kubectl rollout history), with images,
    change-cause and how long ago the current revision took over. Reads only: 2 API calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rss = replica_sets(kube, d)
    current = current_replica_set(d, rss)
    current_rev = revision_of(d)
    previous = previous_replica_set(d, rss)
    revisions = [
        Revision(
            revision=revision_of(rs) or 0,
            replica_set=meta(rs)["name"],
            images=images(rs["spec"]["template"]),
            replicas=int((rs.get("status") or {}).get("replicas", 0)),
            created=parse_time(meta(rs).get("creationTimestamp")),
            change_cause=annotations_of(rs).get(CHANGE_CAUSE),
        )
        for rs in rss[: params.limit]
    ]
    last_change = last_changed_at(d, current)
    minutes = minutes_since(last_change)
    current_images = images(d["spec"]["template"])
    previous_images = images(previous["spec"]["template"]) if previous else []
    summary = f"{where(params)} at revision {current_rev} ({', '.join(current_images)})"
    if minutes is not None:
        summary += f", {minutes:g} min ago"
    if previous is not None:
        summary += f"; previous revision {revision_of(previous)} ({', '.join(previous_images)})"
    else:
        summary += "; no earlier revision"
    return RolloutHistoryResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        revisions=revisions,
        current_revision=current_rev,
        previous_revision=revision_of(previous) if previous else None,
        current_images=current_images,
        previous_images=previous_images,
        last_change=last_change,
        last_change_minutes=minutes,
        paused=bool(d["spec"].get("paused")),
    )


def status_result(ref: DeploymentRef, d: Obj) -> DeploymentStatusResult:
    status = d.get("status") or {}
    complete, stuck, message = rollout_status(d)
    paused = bool(d["spec"].get("paused"))
    desired = int(d["spec"].get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    conditions = [
        {k: str(c.get(k, "")) for k in ("type", "status", "reason", "message", "lastUpdateTime")}
        for c in status.get("conditions") or []
    ]
    reason = "paused" if paused else "stuck" if stuck else "complete" if complete else "progressing"
    return DeploymentStatusResult(
        namespace=ref.namespace,
        deployment=ref.deployment,
        summary=f"{where(ref)}: {ready}/{desired} ready; {message}" + (" (paused)" if paused else ""),
        desired=desired,
        updated=int(status.get("updatedReplicas", 0)),
        ready=ready,
        available=int(status.get("availableReplicas", 0)),
        conditions=conditions,
        stuck=stuck,
        complete=complete,
        paused=paused,
        reason=reason,
    )


@step("kubernetes.deployment_status", StepKind.DIAGNOSTIC)
def deployment_status(params: DeploymentRef) -> DeploymentStatusResult:
    """Replica counts and conditions of a Deployment; whether its rollout is complete, progressing or
    stuck (progress deadline exceeded), by kubectl rollout status's rules. Reads only: 1 API call."""
    kube = connect(params.context)
    return status_result(params, read_deployment(kube, params))
