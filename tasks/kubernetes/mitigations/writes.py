"""Writing a Deployment safely: dry runs through ``dryRun=All``, writes bound to the resourceVersion
they were decided on, one retry from a fresh read, and waiting for the rollout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tasks.kubernetes.client import (
    Kube,
    KubeError,
    Target,
)
from tasks.kubernetes.models import (
    DeploymentChange,
    DeploymentRef,
)
from tasks.kubernetes.objects import (
    Obj,
    revision_of,
    rollout_status,
)
from tasks.kubernetes.reads import read_deployment

POLL_SECONDS = 1.0


class Refused(Exception):
    """The change is not made, for a reason the on-call engineer can act on."""


def deploy_name(ref: DeploymentRef) -> str:
    return f"deployment/{ref.deployment} -n {ref.namespace}"


def failed_change(ref: DeploymentRef, dry_run: bool, kind: str, message: str) -> DeploymentChange:
    return DeploymentChange(
        namespace=ref.namespace,
        deployment=ref.deployment,
        applied=False,
        dry_run=dry_run,
        summary=message,
        error=kind,
        way_back="nothing changed",
    )


def guarded(ref: DeploymentRef, dry_run: bool, change: Any) -> DeploymentChange:
    """Run a change; refusals and API errors become a result that says nothing was changed and why."""
    try:
        result: DeploymentChange = change()
        return result
    except Refused as exc:
        return failed_change(ref, dry_run, "refused", f"{exc}; nothing changed")
    except KubeError as exc:
        if exc.kind == "outcome_unknown":
            failed = failed_change(ref, dry_run, exc.kind, str(exc))
            failed.way_back = "unknown: first look whether the change was made"
            return failed
        return failed_change(ref, dry_run, exc.kind, f"{exc}; nothing changed")


def write(kube: Kube, target: Target, method: Any, *args: Any, dry_run: bool, content_type: str) -> Obj:
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


def patch_deployment(kube: Kube, ref: DeploymentRef, body: Any, content_type: str, dry_run: bool) -> Obj:
    return write(
        kube,
        Target("patch", "deployments.apps", ref.deployment, ref.namespace),
        kube.apps.patch_namespaced_deployment,
        ref.deployment,
        ref.namespace,
        body,
        dry_run=dry_run,
        content_type=content_type,
    )


class ReadAgain(Exception):
    """What was read is already out of date (a write landed after it): read again before deciding."""


def decide_and_write(
    kube: Kube, ref: DeploymentRef, change: Callable[[Obj, Obj | None], DeploymentChange]
) -> DeploymentChange:
    """Read the Deployment and make the change decided on it. After a conflict (another write landed
    between our read and our write), once more from a fresh read: ``change`` then also gets the first
    read, to refuse when what it decided on has moved. A second conflict is not retried."""
    first = read_deployment(kube, ref)
    try:
        return change(first, None)
    except ReadAgain:
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


def finish(
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
