"""The API's vocabulary: the kinds served, their errors as ``Status`` objects, label and field selectors."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIP_COPY = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED, MAX, "deprecated.deployment.rollback.to"}
HASH_LABEL = "pod-template-hash"
ADMIN_TOKEN = "warroom-test-admin-token"  # noqa: S105 (the sandbox's own token, on loopback)
START = dt.datetime(2026, 11, 27, 3, 0, 0, tzinfo=dt.UTC)
BEHAVIOURS = ("healthy", "crashloop", "imagepull", "oom", "pending")


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    namespaced: bool = True
    short: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


KINDS = {
    "deployments": Kind("apps", "v1", "Deployment", short=("deploy",), subresources=("scale",)),
    "replicasets": Kind("apps", "v1", "ReplicaSet", short=("rs",), subresources=("scale",)),
    "pods": Kind("", "v1", "Pod", short=("po",), subresources=("log",)),
    "events": Kind("", "v1", "Event", short=("ev",)),
    "namespaces": Kind("", "v1", "Namespace", namespaced=False, short=("ns",)),
    "horizontalpodautoscalers": Kind("autoscaling", "v2", "HorizontalPodAutoscaler", short=("hpa",)),
    "configmaps": Kind("", "v1", "ConfigMap", short=("cm",)),
}
WRITABLE = {"configmaps", "deployments", "horizontalpodautoscalers", "pods", "replicasets"}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _qualified(resource: str) -> str:
    group = KINDS[resource].group
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str) -> ApiError:
    kind = KINDS[resource]
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(resource)} "{name}" not found',
        {"name": name, "group": kind.group, "kind": resource},
    )


def conflict(resource: str, name: str) -> ApiError:
    kind = KINDS[resource]
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": kind.group, "kind": resource},
    )


def invalid(resource: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    kind = KINDS[resource]
    text = ", ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(
        422,
        "Invalid",
        f'{kind.kind}.{kind.group or "core"} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": kind.group,
            "kind": kind.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
        },
    )


# --- selectors -------------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_matcher(selector: str | None) -> Callable[[dict[str, str]], bool]:
    """A matcher for a label selector string (equality- and set-based), as the API server parses it."""
    if not selector:
        return lambda labels: True
    reqs: list[tuple[str, str, Any]] = []  # (operator, key, value)
    for req in _split_requirements(selector):
        if m := _SET_RE.match(req):
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(2), m.group(1), values))
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            reqs.append(("!=", key, value))
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            reqs.append(("=", key, value))
        elif req.startswith("!"):
            reqs.append(("!exists", req[1:].strip(), None))
        elif re.fullmatch(r"[\w./-]+", req):
            reqs.append(("exists", req, None))
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")

    def one(labels: dict[str, str], op: str, key: str, value: Any) -> bool:
        if op == "in":
            return labels.get(key) in value
        if op == "notin":
            return labels.get(key) not in value
        if op == "!=":
            return labels.get(key) != value
        if op == "=":
            return labels.get(key) == value
        return (key in labels) == (op == "exists")

    return lambda labels: all(one(labels, op, k, v) for op, k, v in reqs)


def _path(obj: dict[str, Any], dotted: str) -> str:
    node: Any = obj
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


FIELDS = {
    "pods": {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.restartPolicy"},
    "events": {
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "reason",
        "type",
        "source",
        "reportingComponent",
    },
}


def field_matcher(resource: str, selector: str | None) -> Callable[[dict[str, Any]], bool]:
    if not selector:
        return lambda obj: True
    allowed = FIELDS.get(resource, set()) | {"metadata.name", "metadata.namespace"}
    reqs: list[tuple[str, str, bool]] = []  # (field, value, negated)
    for req in _split_requirements(selector):
        negate = "!=" in req
        key, value = (s.strip() for s in re.split(r"!=|==|=", req, maxsplit=1))
        if key not in allowed:
            raise ApiError(
                400,
                "BadRequest",
                f'Unable to find "{KINDS[resource].api_version}, Resource={resource}" '
                f'that match label selector "", field selector "{selector}": '
                f'"{key}" is not a known field selector: only "{", ".join(sorted(allowed))}"',
            )
        if key == "source":
            key = "source.component"
        reqs.append((key, value, negate))
    return lambda obj: all((_path(obj, k) == v) != n for k, v, n in reqs)


def selector_string(label_selector: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted((label_selector.get("matchLabels") or {}).items())]
    for expr in label_selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
