"""Log tails of a Deployment's worst pods (read only)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tasks.kubernetes.client import KubeError, Target, connect
from tasks.kubernetes.diagnostics.revisions import where
from tasks.kubernetes.models import (
    LogsParams,
    LogsResult,
)
from tasks.kubernetes.objects import (
    Obj,
    meta,
    pod_badness,
)
from tasks.kubernetes.reads import pods_of, read_deployment
from tasks.step import step
from warroom.redact import redact_text
from warroom.steps import StepKind


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
    summary = f"{where(params)}: {len(out)} log(s) of {len(pods)} pod(s), {size} bytes" + (
        " (cut to the last lines)" if truncated else ""
    )
    return LogsResult(
        namespace=params.namespace,
        deployment=params.deployment,
        summary=summary,
        logs=out,
        truncated=truncated,
    )
