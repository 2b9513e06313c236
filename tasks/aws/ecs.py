"""ECS: a service's rollout, events and what changed (reads only); rolling it back to an earlier task
definition and scaling it (change production)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.aws.changes import Refused, follow, guarded
from tasks.aws.client import AwsError, call, client
from tasks.aws.ecs_reads import (
    Service,
    deployments,
    describe_service,
    describe_task_definition,
    differences,
    images,
    last_deployment_at,
    minutes_since,
    previous_task_definition,
    revision,
    rollout_failed,
    short,
    steady,
    where,
)
from tasks.aws.models import (
    AwsChange,
    EcsRollbackParams,
    EcsScaleParams,
    EcsServiceParams,
    EcsServiceRef,
    EcsServiceResult,
)
from tasks.step import step
from warroom import capacity
from warroom.steps import StepKind

SCALE_DIMENSION = "ecs:service:DesiredCount"


@step("aws.ecs_service", StepKind.DIAGNOSTIC)
def ecs_service(params: EcsServiceParams) -> EcsServiceResult:
    """An ECS service's deployments, running against desired tasks, recent events, and what its task
    definition changed from the one before. Reads only: 4 API calls."""
    api = client("ecs", params.region)
    svc = describe_service(api, params)
    current_arn = str(svc["taskDefinition"])
    current = describe_task_definition(api, current_arn)
    previous_arn = previous_task_definition(api, svc)
    previous = describe_task_definition(api, previous_arn) if previous_arn else None
    events = [
        f"{e['createdAt']:%Y-%m-%d %H:%M:%S}Z {e.get('message', '')}"
        for e in (svc.get("events") or [])[: params.events]
    ]
    at = last_deployment_at(svc)
    is_steady, failed = steady(svc), rollout_failed(svc)
    desired, running = int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0))
    state = "rollout FAILED" if failed else "steady" if is_steady else "rolling out or short of tasks"
    return EcsServiceResult(
        summary=f"{where(params)} runs {short(current_arn)}"
        + (f" (before: {short(previous_arn)})" if previous_arn else "")
        + f", {running}/{desired} tasks running, {state}",
        cluster=params.cluster,
        service=params.service,
        status=str(svc.get("status", "")),
        desired=desired,
        running=running,
        pending=int(svc.get("pendingCount", 0)),
        task_definition=short(current_arn),
        previous_task_definition=short(previous_arn) if previous_arn else None,
        images=images(current),
        previous_images=images(previous) if previous else [],
        differences=differences(previous, current) if previous else [],
        deployments=deployments(svc),
        events=events,
        last_deployment_at=at,
        last_change_minutes=minutes_since(at),
        steady=is_steady,
        rollout_failed=failed,
    )


def _following(
    api: Any, params: EcsRollbackParams | EcsScaleParams, reached: Callable[[Service], bool]
) -> Any:
    def look() -> tuple[bool, bool, str]:
        svc = describe_service(api, params)
        primary: dict[str, Any] = next(
            (d for d in svc.get("deployments") or [] if d.get("status") == "PRIMARY"), {}
        )
        state = (
            f"{svc.get('runningCount', 0)}/{svc.get('desiredCount', 0)} tasks running on "
            f"{short(str(svc['taskDefinition']))}, {len(svc.get('deployments') or [])} deployment(s), "
            f"rollout {primary.get('rolloutState') or 'unknown'}"
        )
        return reached(svc) and steady(svc), rollout_failed(svc), state

    return look


def _update(api: Any, params: EcsServiceRef, **change: Any) -> None:
    call(api, "UpdateService", where(params), cluster=params.cluster, service=params.service, **change)


def _rollback(params: EcsRollbackParams, dry_run: bool) -> AwsChange:
    api = client("ecs", params.region)
    svc = describe_service(api, params)
    current_arn = str(svc["taskDefinition"])
    family, _ = revision(current_arn)
    target_name = params.task_definition or previous_task_definition(api, svc)
    if target_name is None:
        raise Refused(
            f"{where(params)}: {family} has no earlier ACTIVE revision; name one in task_definition"
        )
    target = describe_task_definition(api, target_name)
    target_arn = str(target["taskDefinitionArn"])
    if revision(target_arn)[0] != family:
        raise Refused(f"{short(target_arn)} is not a revision of {family}, which {where(params)} runs")
    if short(target_arn) == short(current_arn):
        raise Refused(f"{where(params)} already runs {short(current_arn)}")
    if target.get("status") == "INACTIVE":
        raise Refused(f"{short(target_arn)} is deregistered (INACTIVE); register it again or name another")
    current = describe_task_definition(api, current_arn)
    changes = differences(current, target)
    base = {
        "resource": f"{params.cluster}/{params.service}",
        "before": {"task_definition": short(current_arn), "images": images(current)},
        "after": {"task_definition": short(target_arn), "images": images(target)},
        "way_back": f"aws ecs update-service --region {api.meta.region_name} --cluster {params.cluster} "
        f"--service {params.service} --task-definition {short(current_arn)}",
    }
    what = f"{where(params)} from {short(current_arn)} to {short(target_arn)}" + (
        f" ({'; '.join(changes)})" if changes else ""
    )
    if dry_run:
        return AwsChange(summary=f"would roll back {what}", applied=False, dry_run=True, **base)
    _update(api, params, taskDefinition=target_arn)
    result = AwsChange(summary=f"rolled back {what}", applied=True, **base)
    reached = _following(api, params, lambda s: short(str(s["taskDefinition"])) == short(target_arn))
    return follow(result, params.wait, reached)


@step("aws.ecs_rollback", StepKind.MITIGATION)
def ecs_rollback(params: EcsRollbackParams, dry_run: bool = False) -> AwsChange:
    """Roll an ECS service back to its previous task definition (or a named revision of the same family)
    and wait for the deployment to reach a steady state (changes production).

    Its dry run shows the plan: from which task definition to which, and what differs; changes nothing."""
    return guarded(f"{params.cluster}/{params.service}", dry_run, lambda: _rollback(params, dry_run))


def _scale(params: EcsScaleParams, dry_run: bool) -> AwsChange:
    api = client("ecs", params.region)
    svc = describe_service(api, params)
    current = int(svc.get("desiredCount", 0))
    target, note = capacity.target(
        current, params.desired_count, params.change, params.minimum, params.maximum, ("minimum", "maximum")
    )
    scaling = client("application-autoscaling", params.region)
    resource_id = f"service/{params.cluster}/{params.service}"
    managed = (
        call(
            scaling,
            "DescribeScalableTargets",
            resource_id,
            ServiceNamespace="ecs",
            ResourceIds=[resource_id],
            ScalableDimension=SCALE_DIMENSION,
        ).get("ScalableTargets")
        or []
    )
    old_min = None
    if managed:
        old_min, ceiling = int(managed[0]["MinCapacity"]), int(managed[0]["MaxCapacity"])
        if target < current:
            raise Refused(
                f"Application Auto Scaling manages {where(params)}: scaling in is its job; lower its "
                "MinCapacity instead"
            )
        if target > ceiling:
            target, note = ceiling, note + f" (its scalable target's MaxCapacity {ceiling} caps it)"
    if target == current:
        raise Refused(f"{where(params)} already wants {current} tasks{note}")
    raise_floor = old_min is not None and target > old_min
    way_back = (
        f"aws ecs update-service --region {api.meta.region_name} --cluster {params.cluster} "
        f"--service {params.service} --desired-count {current}"
    )
    if raise_floor:
        way_back += (
            f"; aws application-autoscaling register-scalable-target --region {api.meta.region_name} "
            f"--service-namespace ecs --resource-id {resource_id} --scalable-dimension {SCALE_DIMENSION} "
            f"--min-capacity {old_min}"
        )
    floor = (
        f", raising Application Auto Scaling's MinCapacity from {old_min} to {target} so it keeps them"
        if raise_floor
        else ""
    )
    base = {
        "resource": f"{params.cluster}/{params.service}",
        "before": {"desired": current, **({"min_capacity": old_min} if raise_floor else {})},
        "after": {"desired": target, **({"min_capacity": target} if raise_floor else {})},
        "way_back": way_back,
    }
    if dry_run:
        return AwsChange(
            summary=f"would scale {where(params)} from {current} to {target} tasks{floor}{note}",
            applied=False,
            dry_run=True,
            **base,
        )
    if raise_floor:
        call(
            scaling,
            "RegisterScalableTarget",
            resource_id,
            ServiceNamespace="ecs",
            ResourceId=resource_id,
            ScalableDimension=SCALE_DIMENSION,
            MinCapacity=target,
        )
    try:
        _update(api, params, desiredCount=target)
    except AwsError as exc:
        if not raise_floor:
            raise
        return AwsChange(  # the floor is raised: Application Auto Scaling will bring the count up itself
            summary=f"raised MinCapacity of {resource_id} to {target}; setting desiredCount failed: {exc}",
            applied=True,
            partial=True,
            error=exc.code,
            **base,
        )
    result = AwsChange(
        summary=f"scaled {where(params)} from {current} to {target} tasks{floor}{note}", applied=True, **base
    )
    return follow(
        result, params.wait, _following(api, params, lambda s: int(s.get("desiredCount", 0)) == target)
    )


@step("aws.ecs_scale", StepKind.MITIGATION)
def ecs_scale(params: EcsScaleParams, dry_run: bool = False) -> AwsChange:
    """Scale an ECS service to ``desired_count`` or by ``change`` (+50%, x2), clamped; when Application Auto
    Scaling manages it, its MinCapacity is raised too so it does not scale back in. Waits for the tasks.

    Its dry run: what scaling would change (desired count, and the scalable target's floor); changes
    nothing."""
    return guarded(f"{params.cluster}/{params.service}", dry_run, lambda: _scale(params, dry_run))
