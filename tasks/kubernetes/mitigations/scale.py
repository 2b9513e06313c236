"""``kubernetes.scale``: more (or fewer) replicas, raising an HPA's floor when one manages the
Deployment. Changes production.
"""

from __future__ import annotations

from tasks.kubernetes.client import (
    MERGE_PATCH,
    Kube,
    Target,
    connect,
)
from tasks.kubernetes.mitigations.writes import Refused, decide_and_write, deploy_name, finish, guarded, write
from tasks.kubernetes.models import (
    DeploymentChange,
    ScaleParams,
)
from tasks.kubernetes.objects import (
    Obj,
    meta,
)
from tasks.step import step
from warroom import capacity
from warroom.steps import StepKind


def scale_target(current: int, params: ScaleParams) -> tuple[int, str]:
    """The replica count asked for, clamped to [min_replicas, max_replicas], and a note when clamped."""
    return capacity.target(
        current,
        params.replicas,
        params.change,
        params.min_replicas,
        params.max_replicas,
        ("min_replicas", "max_replicas"),
    )


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

    result = decide_and_write(kube, params, change)
    if dry_run:
        return result
    expect = None if "hpa" in result.after else result.after["replicas"]  # an HPA decides the count
    return finish(kube, params, params.wait.total_seconds(), result, expect_replicas=expect)


def _scale_deployment(
    kube: Kube, params: ScaleParams, d: Obj, current: int, target: int, note: str, dry_run: bool
) -> DeploymentChange:
    where = f"{params.namespace}/{params.deployment}"
    if target == current:
        raise Refused(f"{where} already has {current} replicas{note}")
    body = {"metadata": {"resourceVersion": meta(d)["resourceVersion"]}, "spec": {"replicas": target}}
    scale = write(
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
        way_back=f"kubectl scale {deploy_name(params)} --replicas={current}",
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
    write(
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


@step("kubernetes.scale", StepKind.MITIGATION)
def scale(params: ScaleParams, dry_run: bool = False) -> DeploymentChange:
    """Scale a Deployment to ``replicas`` or by ``change`` (+50%, -2, x2), clamped to min/max; when an
    HPA targets it, raise the HPA's minReplicas instead (and say so). Waits for the new replicas.

    Its dry run: what scaling would change (replica count or HPA floor), checked with dryRun=All; changes
    nothing."""
    return guarded(params, dry_run, lambda: _scale(params, dry_run))


# --- restart -----------------------------------------------------------------------------------------
