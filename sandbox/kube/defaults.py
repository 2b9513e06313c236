"""What the API server and the controllers fill in and read on objects: defaulting of Deployments and pod
templates, the pod-template hash, int-or-percent values, ownership, readiness, a container's log."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from typing import Any

from sandbox.kube.api import HASH_LABEL


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _safe_hash(data: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:length])


def _intstr(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return int(-(-exact // 1)) if round_up else int(exact // 1)
    return int(value)


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


def _default_template(template: dict[str, Any]) -> None:
    """The API server's defaulting of a pod template (what makes RS and Deployment templates equal)."""
    template.setdefault("metadata", {})
    template["metadata"].setdefault("creationTimestamp", None)
    spec = template.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in spec.get("containers") or []:
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = str(c.get("image", ""))
        c.setdefault(
            "imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image else "IfNotPresent"
        )


def _default_deployment(d: dict[str, Any]) -> None:
    spec = d.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    _default_template(spec.setdefault("template", {}))


def _default_log(image: str, state: str) -> list[str]:
    if state == "crashloop":
        return [
            f"starting {image}",
            "loading configuration from /etc/app/config.yaml",
            "ERROR required setting DATABASE_URL is missing",
            "panic: invalid configuration",
        ]
    if state == "oom":
        return [f"starting {image}", "warming cache: 1048576 entries", "warming cache: 2097152 entries"]
    return [f"starting {image}", "listening on :8080", "GET /healthz 200 0.4ms"]


def _owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    return any(
        ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
