"""``kubernetes.restart``: a rolling restart of a Deployment's pods (as ``kubectl rollout restart``).
Changes production.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.kubernetes.client import (
    STRATEGIC_MERGE_PATCH,
    connect,
)
from tasks.kubernetes.mitigations.writes import (
    Refused,
    decide_and_write,
    deploy_name,
    finish,
    guarded,
    patch_deployment,
)
from tasks.kubernetes.models import (
    DeploymentChange,
    RestartParams,
)
from tasks.kubernetes.objects import (
    RESTARTED_AT,
    Obj,
    annotations_of,
    meta,
    revision_of,
)
from tasks.step import step
from warroom.steps import StepKind


def _restart(params: RestartParams, dry_run: bool) -> DeploymentChange:
    kube = connect(params.context)
    where = f"{params.namespace}/{params.deployment}"

    def change(d: Obj, _first: Obj | None) -> DeploymentChange:
        if d["spec"].get("paused"):
            raise Refused(
                f"can't restart paused deployment {params.deployment} "
                f"(run kubectl rollout resume {deploy_name(params)} first)"
            )
        # kubectl rollout restart's patch: a new restartedAt annotation on the pod template (RFC 3339).
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"resourceVersion": meta(d)["resourceVersion"]},
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
        }
        after = patch_deployment(kube, params, body, STRATEGIC_MERGE_PATCH, dry_run)
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
                f"revision: kubectl rollout undo {deploy_name(params)} --to-revision={current}"
            ),
        )

    result = decide_and_write(kube, params, change)
    return result if dry_run else finish(kube, params, params.wait.total_seconds(), result)


@step("kubernetes.restart", StepKind.MITIGATION)
def restart(params: RestartParams, dry_run: bool = False) -> DeploymentChange:
    """Restart a Deployment's pods as kubectl rollout restart does (a new restartedAt annotation on
    the pod template, so they are replaced by a rolling update). Refused when paused. Waits.

    Its dry run: what the restart would change, checked with dryRun=All; changes nothing."""
    return guarded(params, dry_run, lambda: _restart(params, dry_run))
