"""Reading an ECS service: the service, its task definitions, the one before the current, and whether it is
steady. Shared by the ECS diagnostic and the ECS mitigations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tasks.aws.client import AwsError, call
from tasks.aws.models import EcsDeployment, EcsServiceRef

Service = dict[str, Any]


def where(ref: EcsServiceRef) -> str:
    return f"ECS service {ref.cluster}/{ref.service}"


def short(task_definition: str) -> str:
    """``arn:aws:ecs:...:task-definition/checkout:7`` -> ``checkout:7``."""
    return task_definition.rsplit("/", 1)[-1]


def revision(task_definition: str) -> tuple[str, int]:
    family, _, rev = short(task_definition).rpartition(":")
    if not family or not rev.isdigit():
        raise AwsError(f"not a task definition family:revision: {task_definition!r}", "InvalidParameter")
    return family, int(rev)


def describe_service(api: Any, ref: EcsServiceRef) -> Service:
    try:
        found = call(api, "DescribeServices", where(ref), cluster=ref.cluster, services=[ref.service])
    except AwsError as exc:
        if exc.code != "ClusterNotFoundException":
            raise
        raise AwsError(
            f"no {where(ref)} in {api.meta.region_name}: no cluster {ref.cluster}", exc.code
        ) from None
    services = [s for s in found.get("services") or [] if s.get("status") != "INACTIVE"]
    if not services:
        reasons = ", ".join(f.get("reason", "?") for f in found.get("failures") or []) or "INACTIVE"
        raise AwsError(f"no {where(ref)} in {api.meta.region_name} ({reasons})", "ServiceNotFoundException")
    return dict(services[0])


def describe_task_definition(api: Any, name: str) -> dict[str, Any]:
    found = call(api, "DescribeTaskDefinition", f"task definition {short(name)}", taskDefinition=name)
    return dict(found["taskDefinition"])


def images(task_definition: dict[str, Any]) -> list[str]:
    return [f"{c['name']}={c.get('image', '?')}" for c in task_definition.get("containerDefinitions") or []]


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two task definitions: images, commands, sizes, and the names (never the values,
    they may be secret) of environment variables."""
    out = []
    old_c = {c["name"]: c for c in old.get("containerDefinitions") or []}
    new_c = {c["name"]: c for c in new.get("containerDefinitions") or []}
    for name in sorted(old_c.keys() | new_c.keys()):
        a, b = old_c.get(name), new_c.get(name)
        if a is None or b is None:
            out.append(f"container {name} {'added' if a is None else 'removed'}")
            continue
        for field in ("image", "command", "entryPoint", "cpu", "memory", "memoryReservation"):
            if a.get(field) != b.get(field):
                out.append(f"{name}.{field}: {a.get(field)!r} -> {b.get(field)!r}")
        env_a = {e["name"]: e.get("value") for e in a.get("environment") or []}
        env_b = {e["name"]: e.get("value") for e in b.get("environment") or []}
        changed = sorted(k for k in env_a.keys() | env_b.keys() if env_a.get(k) != env_b.get(k))
        if changed:
            out.append(f"{name}.environment changed: {', '.join(changed)}")
    for field in ("cpu", "memory", "taskRoleArn", "executionRoleArn"):
        if old.get(field) != new.get(field):
            out.append(f"{field}: {old.get(field)!r} -> {new.get(field)!r}")
    return out


def previous_task_definition(api: Any, service: Service) -> str | None:
    """The task definition before the current one: the one a rollout in progress replaces, else the
    family's previous ACTIVE revision (ECS keeps no history of what a service ran before)."""
    current = str(service["taskDefinition"])
    for d in service.get("deployments") or []:
        if (
            d.get("status") == "ACTIVE"
            and d.get("taskDefinition")
            and short(d["taskDefinition"]) != short(current)
        ):
            return str(d["taskDefinition"])
    family, rev = revision(current)
    listed = (
        call(
            api,
            "ListTaskDefinitions",
            f"task definition family {family}",
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
            maxResults=100,
        ).get("taskDefinitionArns")
        or []
    )
    older = [arn for arn in listed if revision(arn)[0] == family and revision(arn)[1] < rev]
    return max(older, key=lambda arn: revision(arn)[1]) if older else None


def deployments(service: Service) -> list[EcsDeployment]:
    return [
        EcsDeployment(
            id=str(d.get("id", "")),
            status=str(d.get("status", "")),
            task_definition=short(str(d.get("taskDefinition", ""))),
            desired=int(d.get("desiredCount", 0)),
            running=int(d.get("runningCount", 0)),
            pending=int(d.get("pendingCount", 0)),
            failed=int(d.get("failedTasks", 0)),
            rollout_state=d.get("rolloutState"),
            created_at=d.get("createdAt"),
        )
        for d in service.get("deployments") or []
    ]


def steady(service: Service) -> bool:
    """One deployment left, not rolling out or failed, and every desired task running."""
    rolls = service.get("deployments") or []
    settled = len(rolls) <= 1 and all(d.get("rolloutState") in (None, "COMPLETED") for d in rolls)
    return settled and int(service.get("runningCount", 0)) >= int(service.get("desiredCount", 0))


def rollout_failed(service: Service) -> bool:
    return any(d.get("rolloutState") == "FAILED" for d in service.get("deployments") or [])


def last_deployment_at(service: Service) -> datetime | None:
    times = [
        d["createdAt"] for d in service.get("deployments") or [] if isinstance(d.get("createdAt"), datetime)
    ]
    return max(times) if times else None


def minutes_since(at: datetime | None) -> float | None:
    if at is None:
        return None
    return round((datetime.now(UTC) - at.astimezone(UTC)).total_seconds() / 60, 1)
