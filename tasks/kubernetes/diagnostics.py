"""Kubernetes diagnostics: they only read (get and list, with selectors; never pod by pod)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from prefect import task

from tasks.kubernetes.client import KubeError, Target, connect
from tasks.kubernetes.models import (
    BaselineResult,
    DeploymentRef,
    DeploymentStatusResult,
    EventsParams,
    EventsResult,
    LogsParams,
    LogsResult,
    PodHealthParams,
    PodHealthResult,
    PodState,
    Revision,
    RevisionHealth,
    RolloutHistoryParams,
    RolloutHistoryResult,
)
from tasks.kubernetes.objects import (
    CHANGE_CAUSE,
    HASH_LABEL,
    REVISION_HISTORY,
    Obj,
    annotations_of,
    condition,
    images,
    meta,
    parse_time,
    pod_badness,
    pod_ready,
    pod_reasons,
    pod_restarts,
    pod_unhealthy,
    revision_of,
    rollout_status,
)
from tasks.kubernetes.reads import pods_of, read_deployment, replica_sets
from warroom.duration import format_duration
from warroom.redact import redact_text
from warroom.steps import StepKind, step

# --- reads shared by the steps ---------------------------------------------------------------------


def _revision_by_hash(rss: list[Obj]) -> dict[str, int]:
    out: dict[str, int] = {}
    for rs in rss:
        pod_hash = (
            ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(HASH_LABEL)
        )
        revision = revision_of(rs)
        if pod_hash and revision is not None:
            out[pod_hash] = revision
    return out


def _current(d: Obj, rss: list[Obj]) -> Obj | None:
    revision = revision_of(d)
    return next((rs for rs in rss if revision_of(rs) == revision), None)


def _previous(d: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet of the newest revision before the Deployment's current one (rss: newest first)."""
    current = revision_of(d) or 0
    return next((rs for rs in rss if (revision_of(rs) or 0) < current), None)


def _minutes_since(when: datetime | None) -> float | None:
    if when is None:
        return None
    return round((datetime.now(UTC) - when).total_seconds() / 60, 1)


def _last_change(d: Obj, current: Obj | None) -> datetime | None:
    """When the current revision took over: its ReplicaSet's creation, or, for a ReplicaSet brought
    back by a rollback (it has a revision history), the Progressing condition's update naming it."""
    if current is None:
        return None
    created = parse_time(meta(current).get("creationTimestamp"))
    if REVISION_HISTORY not in annotations_of(current):
        return created
    progressing = condition(d, "Progressing") or {}
    if f'"{meta(current).get("name")}"' in str(progressing.get("message", "")):
        updated = parse_time(progressing.get("lastUpdateTime"))
        if updated and (created is None or updated > created):
            return updated
    return created


def _where(ref: DeploymentRef) -> str:
    return f"{ref.namespace}/{ref.deployment}"


# --- steps -----------------------------------------------------------------------------------------


@step("kubernetes.rollout_history", StepKind.DIAGNOSTIC)
@task(name="kubernetes.rollout_history")
def rollout_history(params: RolloutHistoryParams) -> RolloutHistoryResult:
    """Revisions of a Deployment from its ReplicaSets (as kubectl rollout history), with images,
    change-cause and how long ago the current revision took over. Reads only: 2 API calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rss = replica_sets(kube, d)
    current = _current(d, rss)
    current_rev = revision_of(d)
    previous = _previous(d, rss)
    revisions = [
        Revision(
            revision=revision_of(rs) or 0,
            replica_set=meta(rs)["name"],
            images=images(rs["spec"]["template"]),
            replicas=int((rs.get("status") or {}).get("replicas", 0)),
            created=parse_time(meta(rs).get("creationTimestamp")),
            change_cause=annotations_of(rs).get(CHANGE_CAUSE),
        )
        for rs in rss[: params.limit]
    ]
    last_change = _last_change(d, current)
    minutes = _minutes_since(last_change)
    current_images = images(d["spec"]["template"])
    previous_images = images(previous["spec"]["template"]) if previous else []
    summary = f"{_where(params)} at revision {current_rev} ({', '.join(current_images)})"
    if minutes is not None:
        summary += f", {minutes:g} min ago"
    if previous is not None:
        summary += f"; previous revision {revision_of(previous)} ({', '.join(previous_images)})"
    else:
        summary += "; no earlier revision"
    return RolloutHistoryResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        revisions=revisions,
        current_revision=current_rev,
        previous_revision=revision_of(previous) if previous else None,
        current_images=current_images,
        previous_images=previous_images,
        last_change=last_change,
        last_change_minutes=minutes,
        paused=bool(d["spec"].get("paused")),
    )


def status_result(ref: DeploymentRef, d: Obj) -> DeploymentStatusResult:
    status = d.get("status") or {}
    complete, stuck, message = rollout_status(d)
    paused = bool(d["spec"].get("paused"))
    desired = int(d["spec"].get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    conditions = [
        {k: str(c.get(k, "")) for k in ("type", "status", "reason", "message", "lastUpdateTime")}
        for c in status.get("conditions") or []
    ]
    reason = "paused" if paused else "stuck" if stuck else "complete" if complete else "progressing"
    return DeploymentStatusResult(
        namespace=ref.namespace,
        deployment=ref.deployment,
        summary=f"{_where(ref)}: {ready}/{desired} ready; {message}" + (" (paused)" if paused else ""),
        desired=desired,
        updated=int(status.get("updatedReplicas", 0)),
        ready=ready,
        available=int(status.get("availableReplicas", 0)),
        conditions=conditions,
        stuck=stuck,
        complete=complete,
        paused=paused,
        reason=reason,
    )


@step("kubernetes.deployment_status", StepKind.DIAGNOSTIC)
@task(name="kubernetes.deployment_status")
def deployment_status(params: DeploymentRef) -> DeploymentStatusResult:
    """Replica counts and conditions of a Deployment; whether its rollout is complete, progressing or
    stuck (progress deadline exceeded), by kubectl rollout status's rules. Reads only: 1 API call."""
    kube = connect(params.context)
    return status_result(params, read_deployment(kube, params))


def _pod_state(pod: Obj, revisions: dict[str, int]) -> PodState:
    reasons, message = pod_reasons(pod)
    return PodState(
        name=meta(pod)["name"],
        phase=str((pod.get("status") or {}).get("phase", "Unknown")),
        ready=pod_ready(pod),
        restarts=pod_restarts(pod),
        reasons=reasons,
        node=(pod.get("spec") or {}).get("nodeName"),
        revision=revisions.get((meta(pod).get("labels") or {}).get(HASH_LABEL, "")),
        message=redact_text(message)[:500] if message else None,
    )


@step("kubernetes.pod_health", StepKind.DIAGNOSTIC)
@task(name="kubernetes.pod_health")
def pod_health(params: PodHealthParams) -> PodHealthResult:
    """Pods of a Deployment, worst first: phase, readiness, restarts, waiting/terminated reasons
    (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Unschedulable), node, revision. Reads only: 3 calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    revisions = _revision_by_hash(replica_sets(kube, d))
    pods = sorted(pods_of(kube, d), key=pod_badness)
    states = [_pod_state(p, revisions) for p in pods]
    reasons = Counter(r for s in states for r in s.reasons)
    unhealthy = sum(1 for p in pods if pod_unhealthy(p))
    ready = sum(1 for s in states if s.ready)
    summary = f"{_where(params)}: {ready}/{len(states)} pods ready"
    if reasons:
        summary += "; " + ", ".join(f"{r} x{n}" for r, n in reasons.most_common(4))
    return PodHealthResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        total=len(states),
        ready=ready,
        unhealthy=unhealthy,
        restarts=sum(s.restarts for s in states),
        reasons=dict(reasons.most_common()),
        pods=states[: params.limit],
    )


def _event_time(ev: Obj) -> datetime | None:
    series = ev.get("series") or {}
    return (
        parse_time(series.get("lastObservedTime"))
        or parse_time(ev.get("lastTimestamp"))
        or parse_time(ev.get("eventTime"))
        or parse_time(meta(ev).get("creationTimestamp"))
    )


@step("kubernetes.events", StepKind.DIAGNOSTIC)
@task(name="kubernetes.events")
def events(params: EventsParams) -> EventsResult:
    """Recent warning events of a Deployment, its ReplicaSets and their pods (including pods already
    replaced), newest first. Reads only: 3 API calls (the namespace's warnings in one list)."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rs_names = {meta(rs)["name"] for rs in replica_sets(kube, d)}
    listed = kube.call(
        Target("list", "events", namespace=params.namespace),
        kube.core.list_namespaced_event,
        params.namespace,
        field_selector="type=Warning",
    )
    since = datetime.now(UTC) - params.since
    prefixes = tuple(f"{n}-" for n in rs_names)

    def ours(ev: Obj) -> bool:
        obj = ev.get("involvedObject") or {}
        kind, name = obj.get("kind"), str(obj.get("name", ""))
        return (
            (kind == "Deployment" and name == params.deployment)
            or (kind == "ReplicaSet" and name in rs_names)
            or (kind == "Pod" and name.startswith(prefixes))
        )

    found = []
    for ev in listed.get("items") or []:
        when = _event_time(ev)
        if ours(ev) and (when is None or when >= since):
            found.append((when or since, ev))
    found.sort(key=lambda pair: pair[0], reverse=True)
    reasons = Counter(str(ev.get("reason", "")) for _, ev in found)
    warnings: list[dict[str, str | int]] = [
        {
            "kind": str((ev.get("involvedObject") or {}).get("kind", "")),
            "name": str((ev.get("involvedObject") or {}).get("name", "")),
            "reason": str(ev.get("reason", "")),
            "message": redact_text(str(ev.get("message", "")))[:500],
            "count": int(ev.get("count") or (ev.get("series") or {}).get("count") or 1),
            "last_seen": when.isoformat(),
        }
        for when, ev in found[: params.limit]
    ]
    summary = f"{_where(params)}: {len(found)} warning events in the last {format_duration(params.since)}"
    if reasons:
        summary += " (" + ", ".join(f"{r} x{n}" for r, n in reasons.most_common(4)) + ")"
    return EventsResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        total=len(found),
        reasons=dict(reasons.most_common()),
        warnings=warnings,
    )


def _containers_to_read(pod: Obj) -> list[tuple[str, int]]:
    """(container, restarts) of the containers worth reading: the unwell ones, else the first."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    unwell = [
        (cs["name"], int(cs.get("restartCount", 0)))
        for cs in statuses
        if not cs.get("ready") or cs.get("restartCount", 0)
    ]
    if unwell:
        return unwell
    containers = (pod.get("spec") or {}).get("containers") or []
    return [(containers[0]["name"], 0)] if containers else []


@step("kubernetes.logs", StepKind.DIAGNOSTIC)
@task(name="kubernetes.logs")
def logs(params: LogsParams) -> LogsResult:
    """The last lines of the worst pods' logs, and of the previous container when it restarted; the
    size cap is shared fairly and keeps the newest lines; secrets masked. Reads only: 3 calls, then one
    per log, read in parallel."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    pods = sorted(pods_of(kube, d), key=pod_badness)[: params.pods]
    wanted = [
        (meta(pod)["name"], container, previous)
        for pod in pods
        for container, restarts in _containers_to_read(pod)
        for previous in ((False, True) if restarts else (False,))
    ]
    share = params.max_bytes // max(len(wanted), 1)

    def read(name: str, container: str, previous: bool) -> tuple[str, bool]:
        try:
            text = kube.call(
                Target("get", "pods/log", name, params.namespace),
                kube.core.read_namespaced_pod_log,
                name,
                params.namespace,
                container=container,
                previous=previous,
                tail_lines=params.tail_lines,
                text=True,
            )
        except KubeError as exc:
            if exc.kind in ("forbidden", "unauthorized", "unreachable", "timeout"):
                raise
            text = f"(no log: {exc})"
        raw = redact_text(text).encode()
        if len(raw) > share:  # keep the end: the last lines before a crash are the ones that matter
            return raw[-share:].decode(errors="ignore"), True
        return raw.decode(errors="ignore"), False

    out: dict[str, str] = {}
    truncated = False
    with ThreadPoolExecutor(max_workers=min(len(wanted), 8) or 1) as pool:
        futures = [pool.submit(read, *w) for w in wanted]
        for (name, container, previous), future in zip(wanted, futures, strict=True):
            text, cut = future.result()
            truncated = truncated or cut
            out[f"{name}/{container}" + (" (previous)" if previous else "")] = text
    size = sum(len(t.encode()) for t in out.values())
    summary = f"{_where(params)}: {len(out)} log(s) of {len(pods)} pod(s), {size} bytes" + (
        " (cut to the last lines)" if truncated else ""
    )
    return LogsResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        logs=out,
        truncated=truncated,
    )


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
@task(name="kubernetes.baseline")
def baseline(params: DeploymentRef) -> BaselineResult:
    """Pod health of the current revision against the previous one (the healthy baseline): what
    differs in the template and in readiness, restarts and failure reasons. Reads only: 3 API calls."""
    kube = connect(params.context)
    d = read_deployment(kube, params)
    rss = replica_sets(kube, d)
    pods = pods_of(kube, d)
    by_hash = _revision_by_hash(rss)
    current_rev = revision_of(d)
    current_rs = _current(d, rss)
    base_rs = _previous(d, rss)

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
        summary = f"{_where(params)}: no earlier revision to compare with"
    else:
        summary = (
            f"{_where(params)}: revision {current_rev} "
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


__all__ = [
    "baseline",
    "deployment_status",
    "events",
    "logs",
    "pod_health",
    "pods_of",
    "read_deployment",
    "replica_sets",
    "rollout_history",
    "status_result",
]
