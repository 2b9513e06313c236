"""EC2 Auto Scaling: a group's capacity, instances and recent scaling activity (reads only); setting its
desired capacity within its MinSize and MaxSize (changes production)."""

from __future__ import annotations

from typing import Any

from tasks.aws.changes import Refused, follow, guarded
from tasks.aws.client import AwsError, call, client
from tasks.aws.models import (
    AsgActivityParams,
    AsgActivityResult,
    AsgRef,
    AsgScaleParams,
    AwsChange,
    ScalingActivity,
)
from tasks.step import step
from warroom import capacity
from warroom.steps import StepKind


def where(ref: AsgRef) -> str:
    return f"Auto Scaling group {ref.group}"


def describe_group(api: Any, ref: AsgRef) -> dict[str, Any]:
    found = call(api, "DescribeAutoScalingGroups", where(ref), AutoScalingGroupNames=[ref.group])
    groups = found.get("AutoScalingGroups") or []
    if not groups:
        raise AwsError(f"no {where(ref)} in {api.meta.region_name}", "NotFound")
    return dict(groups[0])


def in_service(group: dict[str, Any]) -> int:
    return sum(
        1
        for i in group.get("Instances") or []
        if i.get("LifecycleState") == "InService" and i.get("HealthStatus", "Healthy") == "Healthy"
    )


@step("aws.asg_activity", StepKind.DIAGNOSTIC)
def asg_activity(params: AsgActivityParams) -> AsgActivityResult:
    """An Auto Scaling group's sizes, its instances by state and health, suspended processes and its recent
    scaling activities. Reads only: 2 API calls."""
    api = client("autoscaling", params.region)
    group = describe_group(api, params)
    activities: list[ScalingActivity] = []
    if params.activities:
        listed = (
            call(
                api,
                "DescribeScalingActivities",
                where(params),
                AutoScalingGroupName=params.group,
                MaxRecords=params.activities,
            ).get("Activities")
            or []
        )
        activities = [
            ScalingActivity(
                status=str(a.get("StatusCode", "")),
                description=str(a.get("Description", "")),
                cause=str(a.get("Cause", "")),
                started_at=a.get("StartTime"),
                ended_at=a.get("EndTime"),
            )
            for a in listed
        ]
    instances = group.get("Instances") or []
    healthy = in_service(group)
    pending = sum(1 for i in instances if str(i.get("LifecycleState", "")).startswith("Pending"))
    unhealthy = sum(1 for i in instances if i.get("HealthStatus", "Healthy") != "Healthy")
    desired, top = int(group["DesiredCapacity"]), int(group["MaxSize"])
    suspended = [p["ProcessName"] for p in group.get("SuspendedProcesses") or []]
    notes = [f"at its MaxSize {top}" if desired >= top else ""]
    notes += [
        f"{unhealthy} unhealthy" if unhealthy else "",
        f"suspended: {', '.join(suspended)}" if suspended else "",
    ]
    return AsgActivityResult(
        summary=f"{where(params)}: {healthy}/{desired} in service (min {group['MinSize']}, max {top})"
        + "".join(f", {n}" for n in notes if n),
        group=params.group,
        min_size=int(group["MinSize"]),
        max_size=top,
        desired=desired,
        in_service=healthy,
        pending=pending,
        unhealthy=unhealthy,
        at_max=desired >= top,
        suspended=suspended,
        activities=activities,
    )


def _scale(params: AsgScaleParams, dry_run: bool) -> AwsChange:
    api = client("autoscaling", params.region)
    group = describe_group(api, params)
    current, low, top = int(group["DesiredCapacity"]), int(group["MinSize"]), int(group["MaxSize"])
    floor, ceiling = max(params.minimum, low), min(params.maximum, top)
    names = (
        "the group's MinSize" if low >= params.minimum else "minimum",
        "the group's MaxSize" if top <= params.maximum else "maximum",
    )
    target, note = capacity.target(
        current, params.desired_capacity, params.change, floor, min(max(ceiling, floor), top), names
    )
    if target == current:
        hint = f"; raise its MaxSize ({top}) to go further" if target >= top else ""
        raise Refused(f"{where(params)} already has desired capacity {current}{note}{hint}")
    base = {
        "resource": params.group,
        "before": {"desired": current, "min": low, "max": top},
        "after": {"desired": target},
        "way_back": f"aws autoscaling set-desired-capacity --region {api.meta.region_name} "
        f"--auto-scaling-group-name {params.group} --desired-capacity {current}",
    }
    what = f"{where(params)} from {current} to {target} instances{note}"
    if dry_run:
        return AwsChange(summary=f"would scale {what}", applied=False, dry_run=True, **base)
    call(
        api,
        "SetDesiredCapacity",
        where(params),
        AutoScalingGroupName=params.group,
        DesiredCapacity=target,
        HonorCooldown=False,
    )
    result = AwsChange(summary=f"scaled {what}", applied=True, **base)

    def look() -> tuple[bool, bool, str]:
        now = describe_group(api, params)
        healthy = in_service(now)
        settled = int(now["DesiredCapacity"]) == target and healthy >= target
        return settled, False, f"{healthy}/{now['DesiredCapacity']} instances in service"

    return follow(result, params.wait, look)


@step("aws.asg_scale", StepKind.MITIGATION)
def asg_scale(params: AsgScaleParams, dry_run: bool = False) -> AwsChange:
    """Set an Auto Scaling group's desired capacity to ``desired_capacity`` or by ``change`` (+50%, x2),
    clamped to its MinSize and MaxSize (and the step's bounds); waits for the instances to be in service
    (changes production).

    Its dry run: what setting the desired capacity would change, within the group's limits; changes
    nothing."""
    return guarded(params.group, dry_run, lambda: _scale(params, dry_run))
