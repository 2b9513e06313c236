"""``kubernetes.rollback``: the Deployment back to an earlier revision's pod template. Changes production."""

from __future__ import annotations

from typing import Any

from tasks.kubernetes.client import (
    JSON_PATCH,
    connect,
)
from tasks.kubernetes.mitigations.writes import (
    ReadAgain,
    Refused,
    decide_and_write,
    deploy_name,
    finish,
    guarded,
    patch_deployment,
)
from tasks.kubernetes.models import (
    DeploymentChange,
    RollbackParams,
)
from tasks.kubernetes.objects import (
    ANNOTATIONS_TO_SKIP,
    HASH_LABEL,
    Obj,
    annotations_of,
    equal_ignore_hash,
    images,
    meta,
    revision_of,
)
from tasks.kubernetes.reads import replica_sets
from tasks.step import step
from warroom.steps import StepKind


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
                f"(kubectl rollout resume {deploy_name(params)}) and try again"
            )
        rss = replica_sets(kube, d)
        if max((revision_of(rs) or 0 for rs in rss), default=0) > (current or 0):
            if first is None:
                raise ReadAgain  # a rollout started after our read: read again, and refuse if it moved
            raise Refused(f"deployment {params.deployment} is being rolled out right now; look again")
        target = _rollback_target(d, rss, params.to_revision)
        to = revision_of(target)
        if equal_ignore_hash(target["spec"]["template"], d["spec"]["template"]):
            raise Refused(f"deployment {params.deployment} already runs the template of revision {to}")
        patch = rollback_patch(d, target)
        patch.append(
            {"op": "replace", "path": "/metadata/resourceVersion", "value": meta(d)["resourceVersion"]}
        )
        after = patch_deployment(kube, params, patch, JSON_PATCH, dry_run)
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
            way_back=f"kubectl rollout undo {deploy_name(params)} --to-revision={current}",
            revision=None if dry_run else revision_of(after),
        )

    result = decide_and_write(kube, params, change)
    return result if dry_run else finish(kube, params, params.wait.total_seconds(), result)


@step("kubernetes.rollback", StepKind.MITIGATION)
def rollback(params: RollbackParams, dry_run: bool = False) -> DeploymentChange:
    """Roll a Deployment back to the previous revision (or ``to_revision``), exactly as kubectl rollout
    undo does: the pods are replaced with the old template. Refused when there is no earlier revision,
    when the Deployment is paused, or when it already runs that template. Waits for the rollout.

    Its dry run: what the rollback would change, checked by the API server with dryRun=All; changes
    nothing."""
    return guarded(params, dry_run, lambda: _rollback(params, dry_run))


# --- scale -------------------------------------------------------------------------------------------
