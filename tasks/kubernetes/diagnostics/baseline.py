"""The current revision against the last healthy one: health and template differences (read only)."""

from __future__ import annotations

from collections import Counter

from tasks.kubernetes.client import connect
from tasks.kubernetes.diagnostics.revisions import (
    current_replica_set,
    previous_replica_set,
    revision_by_hash,
    where,
)
from tasks.kubernetes.models import (
    BaselineResult,
    DeploymentRef,
    RevisionHealth,
)
from tasks.kubernetes.objects import (
    HASH_LABEL,
    Obj,
    images,
    meta,
    pod_ready,
    pod_reasons,
    pod_restarts,
    revision_of,
)
from tasks.kubernetes.reads import pods_of, read_deployment, replica_sets
from tasks.step import step
from warroom.steps import StepKind


def _health(revision: int, rs: Obj, pods: list[Obj]) -> RevisionHealth:
    reasons: Counter[str] = Counter()
    for p in pods:
        reasons.update(pod_reasons(p)[0])
    return RevisionHealth(
        revision=revision,
        images=images(rs["spec"]["template"]),
        pods=len(pods),
        ready=sum(1 for p in pods if pod_ready(p)),
        restarts=sum(pod_restarts(p) for p in pods),
        reasons=dict(reasons.most_common()),
    )


def _template_differences(old: Obj, new: Obj) -> list[str]:
    diffs = []
    old_c = {c["name"]: c for c in (old.get("spec") or {}).get("containers") or []}
    new_c = {c["name"]: c for c in (new.get("spec") or {}).get("containers") or []}
    for name in sorted(old_c.keys() | new_c.keys()):
        a, b = old_c.get(name), new_c.get(name)
        if a is None or b is None:
            diffs.append(f"container {name} {'added' if a is None else 'removed'}")
            continue
        for field in ("image", "command", "args", "resources"):
            if a.get(field) != b.get(field):
                diffs.append(f"{name}.{field}: {a.get(field)!r} -> {b.get(field)!r}")
        env_a = {e["name"]: e for e in a.get("env") or []}
        env_b = {e["name"]: e for e in b.get("env") or []}
        changed = sorted(k for k in env_a.keys() | env_b.keys() if env_a.get(k) != env_b.get(k))
        if changed:
            diffs.append(f"{name}.env changed: {', '.join(changed)}")  # names only: values may be secret
    return diffs


@step("kubernetes.baseline", StepKind.DIAGNOSTIC)
def baseline(params: DeploymentRef) -> BaselineResult:
    """Pod health of the current revision against the previous one (the healthy baseline): what
    differs in the template and in readiness, restarts and failure reasons. Reads only: 3 API calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rss = replica_sets(kube, d)
    pods = pods_of(kube, d)
    by_hash = revision_by_hash(rss)
    current_rev = revision_of(d)
    current_rs = current_replica_set(d, rss)
    base_rs = previous_replica_set(d, rss)

    def pods_at(rs: Obj) -> list[Obj]:
        return [
            p
            for p in pods
            if by_hash.get((meta(p).get("labels") or {}).get(HASH_LABEL, "")) == revision_of(rs)
        ]

    current = _health(current_rev or 0, current_rs, pods_at(current_rs)) if current_rs else None
    base = _health(revision_of(base_rs) or 0, base_rs, pods_at(base_rs)) if base_rs else None
    differences: list[str] = []
    if current_rs is not None and base_rs is not None:
        differences += _template_differences(base_rs["spec"]["template"], current_rs["spec"]["template"])
    regressed = False
    if current is not None:
        unwell = current.pods - current.ready
        if base is not None and base.pods:
            differences.append(
                f"ready: revision {current.revision} {current.ready}/{current.pods}, "
                f"revision {base.revision} {base.ready}/{base.pods}"
            )
            if current.restarts != base.restarts:
                differences.append(f"restarts: {current.restarts} vs {base.restarts}")
            regressed = unwell / max(current.pods, 1) > (base.pods - base.ready) / base.pods
        else:
            regressed = unwell > 0
            if base is not None:
                differences.append(f"revision {base.revision} has no pods running to compare with")
        new_reasons = sorted(set(current.reasons) - set(base.reasons if base else {}))
        if new_reasons:
            differences.append(f"new in revision {current.revision}: {', '.join(new_reasons)}")
    if base_rs is None:
        summary = f"{where(params)}: no earlier revision to compare with"
    else:
        summary = (
            f"{where(params)}: revision {current_rev} "
            + ("regressed" if regressed else "is no worse")
            + f" against revision {revision_of(base_rs)}"
        )
    return BaselineResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        current_revision=current_rev,
        baseline_revision=revision_of(base_rs) if base_rs else None,
        current=current,
        baseline=base,
        differences=differences,
        regressed=regressed,
    )
