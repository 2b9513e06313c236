"""Reading Kubernetes objects as the controllers and kubectl read them (plain JSON dicts, no API calls)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# Deployment annotations kubectl rollout undo keeps from the Deployment rather than the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
# Waiting/terminated reasons that mean a pod is broken, worst first.
BAD_REASONS = (
    "OOMKilled",
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "Unschedulable",
    "Evicted",
    "Error",
)


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return meta(obj).get("annotations") or {}


def revision_of(obj: Obj) -> int | None:
    try:
        return int(annotations_of(obj)[REVISION])
    except (KeyError, ValueError):
        return None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def selector_string(label_selector: Obj | None) -> str:
    """A label selector object as the query string the API server takes."""
    selector = label_selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], sorted(expr.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"unknown selector operator {op!r}")
    return ",".join(parts)


def controlled_by(obj: Obj, owner: Obj) -> bool:
    uid = meta(owner).get("uid")
    return any(
        ref.get("controller") and ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or []
    )


def images(template: Obj) -> list[str]:
    return [str(c.get("image", "")) for c in ((template.get("spec") or {}).get("containers") or [])]


def template_without_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return template_without_hash(a) == template_without_hash(b)


def condition(obj: Obj, type_: str) -> Obj | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None
    )


def rollout_status(d: Obj) -> tuple[bool, bool, str]:
    """(complete, stuck, message) with kubectl rollout status's rules."""
    name = meta(d).get("name", "")
    status = d.get("status") or {}
    spec = d.get("spec") or {}
    if meta(d).get("generation", 0) > status.get("observedGeneration", 0):
        return False, False, "Waiting for deployment spec update to be observed..."
    progressing = condition(d, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return False, True, f'deployment "{name}" exceeded its progress deadline'
    desired = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    replicas = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < desired:
        return (
            False,
            False,
            (
                f'Waiting for deployment "{name}" rollout to finish: {updated} out of {desired} new replicas '
                "have been updated..."
            ),
        )
    if replicas > updated:
        return (
            False,
            False,
            (
                f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas are '
                "pending termination..."
            ),
        )
    if available < updated:
        return (
            False,
            False,
            (
                f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated '
                "replicas are available..."
            ),
        )
    return True, False, f'deployment "{name}" successfully rolled out'


def pod_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def pod_reasons(pod: Obj) -> tuple[list[str], str | None]:
    """Why a pod is unwell (worst first) and the most telling message."""
    status = pod.get("status") or {}
    found: list[str] = []
    message: str | None = None
    if status.get("reason"):
        found.append(str(status["reason"]))
        message = status.get("message")
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            found.append(waiting["reason"])
            message = message or waiting.get("message")
        for state in ("state", "lastState"):
            terminated = (cs.get(state) or {}).get("terminated") or {}
            if terminated.get("reason") in ("OOMKilled", "Error", "ContainerCannotRun"):
                found.append(terminated["reason"])
                if terminated["reason"] == "OOMKilled":
                    message = message or f"{cs.get('name')} was OOMKilled (exit {terminated.get('exitCode')})"
    scheduled = condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        found.append(str(scheduled.get("reason") or "Unschedulable"))
        message = message or scheduled.get("message")
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda r: BAD_REASONS.index(r) if r in BAD_REASONS else len(BAD_REASONS))
    return unique, message


def pod_restarts(pod: Obj) -> int:
    return sum(
        int(cs.get("restartCount", 0)) for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )


def pod_unhealthy(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return False
    reasons, _ = pod_reasons(pod)
    return not pod_ready(pod) or any(r in BAD_REASONS for r in reasons)


def pod_badness(pod: Obj) -> tuple[int, int, int, str]:
    """Sort key, worst first: broken reasons, then not ready, then most restarts."""
    reasons, _ = pod_reasons(pod)
    worst = min((BAD_REASONS.index(r) for r in reasons if r in BAD_REASONS), default=len(BAD_REASONS))
    return (0 if pod_unhealthy(pod) else 1, worst, -pod_restarts(pod), meta(pod).get("name", ""))
