"""Kubernetes mitigations: rollback, scale, restart. Each changes production, so each runs only after an
approval; each has a dry run through the API server's ``dryRun=All`` and says how to go back.

Writes carry the resourceVersion they were decided on: a conflict (the object changed meanwhile) is
retried once from a fresh read, and only when what the change was decided on (the revision, the replica
count) is still what it was; otherwise nothing is changed and the result says why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import task

from tasks.kubernetes.client import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    Kube,
    KubeError,
    Target,
    connect,
)
from tasks.kubernetes.models import (
    DeploymentChange,
    DeploymentRef,
    RestartParams,
    RollbackParams,
    ScaleParams,
)
from tasks.kubernetes.objects import (
    ANNOTATIONS_TO_SKIP,
    HASH_LABEL,
    RESTARTED_AT,
    Obj,
    annotations_of,
    equal_ignore_hash,
    images,
    meta,
    revision_of,
    rollout_status,
)
from tasks.kubernetes.reads import read_deployment, replica_sets
from warroom.steps import StepKind, step

POLL_SECONDS = 1.0


class Refused(Exception):
    """The change is not made, for a reason the on-call engineer can act on."""


def _deploy(ref: DeploymentRef) -> str:
    return f"deployment/{ref.deployment} -n {ref.namespace}"


def _failed(ref: DeploymentRef, dry_run: bool, kind: str, message: str) -> DeploymentChange:
    return DeploymentChange(
        namespace=ref.namespace,
        deployment=ref.deployment,
        applied=False,
        dry_run=dry_run,
        summary=message,
        error=kind,
        way_back="nothing changed",
    )


def _guarded(ref: DeploymentRef, dry_run: bool, change: Any) -> DeploymentChange:
    """Run a change; refusals and API errors become a result that says nothing was changed and why."""
    try:
        result: DeploymentChange = change()
        return result
    except Refused as exc:
        return _failed(ref, dry_run, "refused", f"{exc}; nothing changed")
    except KubeError as exc:
        if exc.kind == "outcome_unknown":
            failed = _failed(ref, dry_run, exc.kind, str(exc))
            failed.way_back = "unknown: first look whether the change was made"
            return failed
        return _failed(ref, dry_run, exc.kind, f"{exc}; nothing changed")


def _write(kube: Kube, target: Target, method: Any, *args: Any, dry_run: bool, content_type: str) -> Obj:
    """A PATCH. When no answer comes back the change may have been made: say so, never guess."""
    try:
        return kube.call(
            target, method, *args, dry_run="All" if dry_run else None, _content_type=content_type
        )
    except KubeError as exc:
        if exc.kind in ("timeout", "unreachable") and not dry_run:
            raise KubeError(
                "outcome_unknown",
                f"{exc}; the change may or may not have been made: look (kubectl get "
                f"{target.resource.split('/')[0]} {target.name} -n {target.namespace}) before anything else",
            ) from None
        raise


def _patch_deployment(kube: Kube, ref: DeploymentRef, body: Any, content_type: str, dry_run: bool) -> Obj:
    return _write(
        kube,
        Target("patch", "deployments.apps", ref.deployment, ref.namespace),
        kube.apps.patch_namespaced_deployment,
        ref.deployment,
        ref.namespace,
        body,
        dry_run=dry_run,
        content_type=content_type,
    )


class _ReadAgain(Exception):
    """What was read is already out of date (a write landed after it): read again before deciding."""


def _decide_and_write(
    kube: Kube, ref: DeploymentRef, change: Callable[[Obj, Obj | None], DeploymentChange]
) -> DeploymentChange:
    """Read the Deployment and make the change decided on it. After a conflict (another write landed
    between our read and our write), once more from a fresh read: ``change`` then also gets the first
    read, to refuse when what it decided on has moved. A second conflict is not retried."""
    first = read_deployment(kube, ref)
    try:
        return change(first, None)
    except _ReadAgain:
        pass
    except KubeError as exc:
        if exc.kind != "conflict":
            raise
    return change(read_deployment(kube, ref), first)


def wait_for_rollout(kube: Kube, ref: DeploymentRef, seconds: float) -> tuple[bool, str, Obj]:
    """Poll the Deployment until kubectl would call its rollout done, it is stuck, or time is up."""
    deadline = time.monotonic() + seconds
    while True:
        d = read_deployment(kube, ref)
        complete, stuck, message = rollout_status(d)
        if complete or stuck or time.monotonic() >= deadline:
            if not complete and not stuck:
                message = f"not finished after {seconds:g}s: {message}"
            return complete, message, d
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.05)))


def _finish(
    kube: Kube,
    ref: DeploymentRef,
    wait: float,
    result: DeploymentChange,
    *,
    expect_replicas: int | None = None,
) -> DeploymentChange:
    if wait <= 0:
        result.rollout = "not waited for"
        return result
    try:
        complete, message, d = wait_for_rollout(kube, ref, wait)
    except KubeError as exc:  # the change is made; only following it failed
        result.rollout = f"could not follow the rollout: {exc}"
        result.summary += f"; {result.rollout}"
        return result
    if complete and expect_replicas is not None and d["spec"].get("replicas") != expect_replicas:
        complete, message = False, f"replicas are {d['spec'].get('replicas')}, not {expect_replicas}"
    result.ready, result.rollout, result.revision = complete, message, revision_of(d)
    result.summary += f"; {message}"
    return result


# --- rollback ----------------------------------------------------------------------------------------


def _rollback_target(d: Obj, rss: list[Obj], to_revision: int | None) -> Obj:
    """The ReplicaSet to go back to, chosen as kubectl rollout undo chooses it."""
    name = meta(d)["name"]
    if to_revision is not None:
        found = next((rs for rs in rss if revision_of(rs) == to_revision), None)
        if found is None:
            known = ", ".join(str(revision_of(rs)) for rs in reversed(rss)) or "none"
            raise Refused(f"revision {to_revision} of deployment {name} not found (revisions: {known})")
        return found
    ordered = [rs for rs in rss if revision_of(rs) is not None]  # newest first
    if len(ordered) < 2:
        only = f" (only revision {revision_of(ordered[0])} exists)" if ordered else ""
        raise Refused(f"no earlier revision of deployment {name} to roll back to{only}")
    return ordered[1]


def rollback_patch(d: Obj, target: Obj) -> list[dict[str, Any]]:
    """kubectl rollout undo's patch: the target's pod template without its hash label, and the
    Deployment's annotations as kubectl computes them (its own bookkeeping ones, the target's others)."""
    template = target["spec"]["template"]
    template = {**template, "metadata": {**(template.get("metadata") or {})}}
    labels = dict(template["metadata"].get("labels") or {})
    labels.pop(HASH_LABEL, None)
    template["metadata"]["labels"] = labels
    kept = {k: v for k, v in annotations_of(d).items() if k in ANNOTATIONS_TO_SKIP}
    kept.update({k: v for k, v in annotations_of(target).items() if k not in ANNOTATIONS_TO_SKIP})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": kept},
    ]


def _rollback(params: RollbackParams, dry_run: bool) -> DeploymentChange:
    kube = connect(params.context)

    def change(d: Obj, first: Obj | None) -> DeploymentChange:
        current = revision_of(d)
        if first is not None and current != revision_of(first):
            raise Refused(
                f"deployment {params.deployment} moved from revision {revision_of(first)} to {current} "
                "while rolling back; look again before rolling back"
            )
        if d["spec"].get("paused"):
            raise Refused(
                f"deployment {params.deployment} is paused: resume it first "
                f"(kubectl rollout resume {_deploy(params)}) and try again"
            )
        rss = replica_sets(kube, d)
        if max((revision_of(rs) or 0 for rs in rss), default=0) > (current or 0):
            if first is None:
                raise _ReadAgain  # a rollout started after our read: read again, and refuse if it moved
            raise Refused(f"deployment {params.deployment} is being rolled out right now; look again")
        target = _rollback_target(d, rss, params.to_revision)
        to = revision_of(target)
        if equal_ignore_hash(target["spec"]["template"], d["spec"]["template"]):
            raise Refused(f"deployment {params.deployment} already runs the template of revision {to}")
        patch = rollback_patch(d, target)
        patch.append(
            {"op": "replace", "path": "/metadata/resourceVersion", "value": meta(d)["resourceVersion"]}
        )
        after = _patch_deployment(kube, params, patch, JSON_PATCH, dry_run)
        return DeploymentChange(
            namespace=params.namespace,
            deployment=params.deployment,
            applied=not dry_run,
            dry_run=dry_run,
            summary=(
                f"{'would roll' if dry_run else 'rolled'} {params.namespace}/{params.deployment} back from "
                f"revision {current} ({', '.join(images(d['spec']['template']))}) to the template of "
                f"revision {to} ({', '.join(images(target['spec']['template']))})"
            ),
            before={"revision": current, "images": images(d["spec"]["template"])},
            after={"from_revision": to, "images": images(after["spec"]["template"])},
            way_back=f"kubectl rollout undo {_deploy(params)} --to-revision={current}",
            revision=None if dry_run else revision_of(after),
        )

    result = _decide_and_write(kube, params, change)
    return result if dry_run else _finish(kube, params, params.wait.total_seconds(), result)


def rollback_dry_run(params: RollbackParams) -> DeploymentChange:
    """What the rollback would change, checked by the API server with dryRun=All; changes nothing."""
    return _guarded(params, True, lambda: _rollback(params, True))


@step("kubernetes.rollback", StepKind.MITIGATION, dry_run=rollback_dry_run)
@task(name="kubernetes.rollback")
def rollback(params: RollbackParams) -> DeploymentChange:
    """Roll a Deployment back to the previous revision (or ``to_revision``), exactly as kubectl rollout
    undo does: the pods are replaced with the old template. Refused when there is no earlier revision,
    when the Deployment is paused, or when it already runs that template. Waits for the rollout."""
    return _guarded(params, False, lambda: _rollback(params, False))


# --- scale -------------------------------------------------------------------------------------------


def scale_target(current: int, params: ScaleParams) -> tuple[int, str]:
    """The replica count asked for, clamped to [min_replicas, max_replicas], and a note when clamped."""
    if params.replicas is not None:
        wanted = params.replicas
    else:
        change = params.change or "+0"
        if change.startswith("x"):
            wanted = math.ceil(current * float(change[1:]))
        elif change.endswith("%"):
            wanted = current + math.ceil(current * int(change[:-1]) / 100)
        else:
            wanted = current + int(change)
    clamped = min(max(wanted, params.min_replicas), params.max_replicas)
    note = ""
    if clamped != wanted:
        bound = "max_replicas" if clamped < wanted else "min_replicas"
        note = f" (asked for {wanted}, clamped to {bound} {clamped})"
    return clamped, note


def _hpa_for(kube: Kube, params: ScaleParams) -> Obj | None:
    listed = kube.call(
        Target("list", "horizontalpodautoscalers.autoscaling", namespace=params.namespace),
        kube.autoscaling.list_namespaced_horizontal_pod_autoscaler,
        params.namespace,
    )
    for hpa in listed.get("items") or []:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name") == params.deployment:
            return hpa
    return None


def _scale(params: ScaleParams, dry_run: bool) -> DeploymentChange:
    kube = connect(params.context)
    where = f"{params.namespace}/{params.deployment}"

    def change(d: Obj, first: Obj | None) -> DeploymentChange:
        current = int(d["spec"].get("replicas", 1))
        if first is not None and current != int(first["spec"].get("replicas", 1)):
            raise Refused(
                f"{where} went from {first['spec'].get('replicas', 1)} to {current} replicas meanwhile; "
                "look again"
            )
        target, note = scale_target(current, params)
        hpa = _hpa_for(kube, params)
        if hpa is not None:
            return _raise_hpa_floor(kube, params, hpa, current, target, note, dry_run)
        return _scale_deployment(kube, params, d, current, target, note, dry_run)

    result = _decide_and_write(kube, params, change)
    if dry_run:
        return result
    expect = None if "hpa" in result.after else result.after["replicas"]  # an HPA decides the count
    return _finish(kube, params, params.wait.total_seconds(), result, expect_replicas=expect)


def _scale_deployment(
    kube: Kube, params: ScaleParams, d: Obj, current: int, target: int, note: str, dry_run: bool
) -> DeploymentChange:
    where = f"{params.namespace}/{params.deployment}"
    if target == current:
        raise Refused(f"{where} already has {current} replicas{note}")
    body = {"metadata": {"resourceVersion": meta(d)["resourceVersion"]}, "spec": {"replicas": target}}
    scale = _write(
        kube,
        Target("patch", "deployments.apps/scale", params.deployment, params.namespace),
        kube.apps.patch_namespaced_deployment_scale,
        params.deployment,
        params.namespace,
        body,
        dry_run=dry_run,
        content_type=MERGE_PATCH,
    )
    verb = "would scale" if dry_run else "scaled"
    return DeploymentChange(
        namespace=params.namespace,
        deployment=params.deployment,
        applied=not dry_run,
        dry_run=dry_run,
        summary=f"{verb} {where} from {current} to {scale['spec']['replicas']} replicas{note}",
        before={"replicas": current},
        after={"replicas": scale["spec"]["replicas"]},
        way_back=f"kubectl scale {_deploy(params)} --replicas={current}",
    )


def _raise_hpa_floor(
    kube: Kube, params: ScaleParams, hpa: Obj, current: int, target: int, note: str, dry_run: bool
) -> DeploymentChange:
    """With an HPA in charge, scaling the Deployment would be undone by it: raise its minReplicas."""
    name = meta(hpa)["name"]
    where = f"{params.namespace}/{params.deployment}"
    spec = hpa.get("spec") or {}
    old_min, hpa_max = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    if target < current:
        raise Refused(
            f"HPA {name} manages {where}: scaling in is its job; change its minReplicas/maxReplicas instead"
        )
    new_min = min(target, hpa_max)
    if new_min != target:
        note += f" (HPA {name} maxReplicas {hpa_max} caps it)"
    if new_min <= old_min:
        raise Refused(f"HPA {name} already keeps {where} at {old_min} or more replicas{note}")
    body = {"metadata": {"resourceVersion": meta(hpa)["resourceVersion"]}, "spec": {"minReplicas": new_min}}
    _write(
        kube,
        Target("patch", "horizontalpodautoscalers.autoscaling", name, params.namespace),
        kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
        name,
        params.namespace,
        body,
        dry_run=dry_run,
        content_type=MERGE_PATCH,
    )
    verb = "would raise" if dry_run else "raised"
    return DeploymentChange(
        namespace=params.namespace,
        deployment=params.deployment,
        applied=not dry_run,
        dry_run=dry_run,
        summary=(
            f"HPA {name} manages {where}: {verb} its minReplicas from {old_min} to {new_min} instead of "
            f"scaling the Deployment (now {current} replicas){note}"
        ),
        before={"hpa": name, "minReplicas": old_min, "replicas": current},
        after={"hpa": name, "minReplicas": new_min},
        way_back=(
            f"kubectl patch hpa {name} -n {params.namespace} --type merge "
            f'-p \'{{"spec":{{"minReplicas":{old_min}}}}}\''
        ),
    )


def scale_dry_run(params: ScaleParams) -> DeploymentChange:
    """What scaling would change (replica count or HPA floor), checked with dryRun=All; changes nothing."""
    return _guarded(params, True, lambda: _scale(params, True))


@step("kubernetes.scale", StepKind.MITIGATION, dry_run=scale_dry_run)
@task(name="kubernetes.scale")
def scale(params: ScaleParams) -> DeploymentChange:
    """Scale a Deployment to ``replicas`` or by ``change`` (+50%, -2, x2), clamped to min/max; when an
    HPA targets it, raise the HPA's minReplicas instead (and say so). Waits for the new replicas."""
    return _guarded(params, False, lambda: _scale(params, False))


# --- restart -----------------------------------------------------------------------------------------


def _restart(params: RestartParams, dry_run: bool) -> DeploymentChange:
    kube = connect(params.context)
    where = f"{params.namespace}/{params.deployment}"

    def change(d: Obj, _first: Obj | None) -> DeploymentChange:
        if d["spec"].get("paused"):
            raise Refused(
                f"can't restart paused deployment {params.deployment} "
                f"(run kubectl rollout resume {_deploy(params)} first)"
            )
        # kubectl rollout restart's patch: a new restartedAt annotation on the pod template (RFC 3339).
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"resourceVersion": meta(d)["resourceVersion"]},
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
        }
        after = _patch_deployment(kube, params, body, STRATEGIC_MERGE_PATCH, dry_run)
        current = revision_of(d)
        return DeploymentChange(
            namespace=params.namespace,
            deployment=params.deployment,
            applied=not dry_run,
            dry_run=dry_run,
            summary=f"{'would restart' if dry_run else 'restarted'} the pods of {where} (revision {current})",
            before={
                "revision": current,
                RESTARTED_AT: annotations_of(d["spec"]["template"]).get(RESTARTED_AT),
            },
            after={RESTARTED_AT: annotations_of(after["spec"]["template"]).get(RESTARTED_AT)},
            way_back=(
                "none needed: the same template is running again; to return to the exact previous "
                f"revision: kubectl rollout undo {_deploy(params)} --to-revision={current}"
            ),
        )

    result = _decide_and_write(kube, params, change)
    return result if dry_run else _finish(kube, params, params.wait.total_seconds(), result)


def restart_dry_run(params: RestartParams) -> DeploymentChange:
    """What the restart would change, checked with dryRun=All; changes nothing."""
    return _guarded(params, True, lambda: _restart(params, True))


@step("kubernetes.restart", StepKind.MITIGATION, dry_run=restart_dry_run)
@task(name="kubernetes.restart")
def restart(params: RestartParams) -> DeploymentChange:
    """Restart a Deployment's pods as kubectl rollout restart does (a new restartedAt annotation on
    the pod template, so they are replaced by a rolling update). Refused when paused. Waits."""
    return _guarded(params, False, lambda: _restart(params, False))
