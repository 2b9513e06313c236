"""Pod health of a Deployment, by revision (read only, one list call with a selector)."""

from __future__ import annotations

from collections import Counter

from tasks.kubernetes.client import connect
from tasks.kubernetes.diagnostics.revisions import revision_by_hash, where
from tasks.kubernetes.models import (
    PodHealthParams,
    PodHealthResult,
    PodState,
)
from tasks.kubernetes.objects import (
    HASH_LABEL,
    Obj,
    meta,
    pod_badness,
    pod_ready,
    pod_reasons,
    pod_restarts,
    pod_unhealthy,
)
from tasks.kubernetes.reads import pods_of, read_deployment, replica_sets
from tasks.step import step
from warroom.redact import redact_text
from warroom.steps import StepKind


def _pod_state(pod: Obj, revisions: dict[str, int]) -> PodState:
    reasons, message = pod_reasons(pod)
    return PodState(
        name=meta(pod)["name"],
        phase=str((pod.get("status") or {}).get("phase", "Unknown")),
        ready=pod_ready(pod),
        restarts=pod_restarts(pod),
        reasons=reasons,
        node=(pod.get("spec") or {}).get("nodeName"),
        revision=revisions.get((meta(pod).get("labels") or {}).get(HASH_LABEL, "")),
        message=redact_text(message)[:500] if message else None,
    )


@step("kubernetes.pod_health", StepKind.DIAGNOSTIC)
def pod_health(params: PodHealthParams) -> PodHealthResult:
    """Pods of a Deployment, worst first: phase, readiness, restarts, waiting/terminated reasons
    (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable), node, revision. Reads only: 3 calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    revisions = revision_by_hash(replica_sets(kube, d))
    pods = sorted(pods_of(kube, d), key=pod_badness)
    states = [_pod_state(p, revisions) for p in pods]
    reasons = Counter(r for s in states for r in s.reasons)
    unhealthy = sum(1 for p in pods if pod_unhealthy(p))
    ready = sum(1 for s in states if s.ready)
    summary = f"{where(params)}: {ready}/{len(states)} pods ready"
    if reasons:
        summary += "; " + ", ".join(f"{r} x{n}" for r, n in reasons.most_common(4))
    return PodHealthResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        total=len(states),
        ready=ready,
        unhealthy=unhealthy,
        restarts=sum(s.restarts for s in states),
        reasons=dict(reasons.most_common()),
        pods=states[: params.limit],
    )
