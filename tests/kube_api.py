"""A loopback Kubernetes API server for the tests: the real wire format, a small deployment controller.

No real cluster can run here. This server speaks what Warroom's Kubernetes steps and ``kubectl`` use:
legacy discovery, Deployments (and their ``scale`` subresource), ReplicaSets, Pods (and ``log``), Events,
HorizontalPodAutoscalers; label and field selectors; JSON, merge and strategic-merge patches; ``dryRun=All``;
bearer tokens with per-verb rules; errors as ``Status`` objects with the real messages.

A deployment controller runs after every write, like the real one: it picks or creates the ReplicaSet
whose template matches the Deployment's (pod-template-hash label, ``deployment.kubernetes.io/revision``
annotations, revision history on reuse, annotations copied from the Deployment), rolls replicas over
with maxSurge/maxUnavailable, keeps ``revisionHistoryLimit`` old ReplicaSets, and marks a rollout that
does not finish within ``progressDeadlineSeconds`` as ProgressDeadlineExceeded. A kubelet stand-in
gives pods a state from their image (``cluster.behaviour[image]``): healthy, crashloop, imagepull, oom
or pending. An HPA stand-in keeps its target's replicas within min/max. Time only moves with
``advance()``, so two clusters seeded alike stay identical.

``kubectl`` drives it in the tests (``rollout history``, ``rollout undo``, ``rollout restart``,
``scale``, ``get``), which keeps it honest.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.kube_patch import PatchError, json_patch, merge_patch, strategic_merge_patch

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIP_COPY = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED, MAX, "deprecated.deployment.rollback.to"}
HASH_LABEL = "pod-template-hash"
ADMIN_TOKEN = "warroom-test-admin-token"
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
    checks: list[Callable[[dict[str, str]], bool]] = []
    for req in _split_requirements(selector):
        if m := _SET_RE.match(req):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                checks.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                checks.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            checks.append(lambda lb, k=key, v=value: lb.get(k) != v)
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            checks.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif req.startswith("!"):
            checks.append(lambda lb, k=req[1:].strip(): k not in lb)
        elif re.fullmatch(r"[\w./-]+", req):
            checks.append(lambda lb, k=req: k in lb)
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {req!r}")
    return lambda labels: all(c(labels) for c in checks)


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
    checks: list[Callable[[dict[str, Any]], bool]] = []
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
        checks.append(lambda o, k=key, v=value, n=negate: (_path(o, k) == v) != n)
    return lambda obj: all(c(obj) for c in checks)


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


# --- the cluster -----------------------------------------------------------------------------------


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


@dataclass
class Rule:
    verbs: set[str]
    resources: set[str]

    def allows(self, verb: str, resource: str) -> bool:
        return ("*" in self.verbs or verb in self.verbs) and (
            "*" in self.resources or resource in self.resources
        )


@dataclass
class Identity:
    user: str
    rules: list[Rule]


READ_ONLY = [Rule({"get", "list", "watch"}, {"*"})]


@dataclass
class FakeCluster:
    """The objects, the controllers and the clock of one test cluster."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    behaviour: dict[str, str] = field(
        default_factory=dict
    )  # image -> healthy|crashloop|imagepull|oom|pending
    logs: dict[str, list[str]] = field(default_factory=dict)  # image -> log lines of its containers
    nodes: tuple[str, ...] = ("node-a", "node-b", "node-c")
    identities: dict[str, Identity] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # the query string of each request, in order
    server_seconds: float = 0.0  # time spent answering (to tell the server's share of a benchmark)
    stall: dict[str, float] = field(default_factory=dict)  # method -> seconds to hold each such request
    response_bytes: int = 0
    after_request: list[Callable[[str, str], None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in KINDS}
        self._rv = 1000
        self._uid = 0
        self._pods = 0
        self._progress: dict[str, dt.datetime] = {}  # deployment uid -> when its rollout last moved
        self.identities.setdefault(ADMIN_TOKEN, Identity("admin", [Rule({"*"}, {"*"})]))
        for ns in ("default", "kube-system", "prod"):
            self.add_namespace(ns)

    def add_namespace(self, name: str) -> None:
        with self.lock:
            if ("", name) not in self.objects["namespaces"]:
                ns = self._stamp(
                    "namespaces",
                    "",
                    {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}},
                )
                ns["spec"], ns["status"] = {"finalizers": ["kubernetes"]}, {"phase": "Active"}
                self._store("namespaces", ns)

    # --- seeding (what a test does to set the scene) ---

    def grant(self, token: str, user: str, rules: list[Rule]) -> None:
        self.identities[token] = Identity(user, rules)

    def create_deployment(
        self,
        name: str,
        image: str,
        *,
        namespace: str = "prod",
        replicas: int = 3,
        annotations: dict[str, str] | None = None,
        containers: list[dict[str, Any]] | None = None,
        paused: bool = False,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name},
                "annotations": dict(annotations or {}),
            },
            "spec": {
                "replicas": replicas,
                "paused": paused,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": containers
                        or [
                            {
                                "name": name,
                                "image": image,
                                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            }
                        ]
                    },
                },
            },
        }
        if not paused:
            del body["spec"]["paused"]
        with self.lock:
            return self.create("deployments", namespace, body)

    def set_image(
        self, name: str, image: str, *, namespace: str = "prod", change_cause: str | None = None
    ) -> dict[str, Any]:
        """What ``kubectl set image`` (with an annotation of the change) does."""
        with self.lock:
            d = self.get("deployments", namespace, name)
            patch: dict[str, Any] = {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": c["name"], "image": image}
                                for c in d["spec"]["template"]["spec"]["containers"][:1]
                            ]
                        }
                    }
                }
            }
            if change_cause is not None:
                patch["metadata"] = {"annotations": {"kubernetes.io/change-cause": change_cause}}
            return self.patch("deployments", namespace, name, "application/strategic-merge-patch+json", patch)

    def create_hpa(
        self,
        name: str,
        target: str,
        *,
        namespace: str = "prod",
        min_replicas: int = 2,
        max_replicas: int = 10,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
        with self.lock:
            return self.create("horizontalpodautoscalers", namespace, body)

    def touch(self, resource: str, namespace: str, name: str) -> None:
        """A write that changes nothing visible but the resourceVersion (a controller's status update)."""
        with self.lock:
            self._store(resource, self.objects[resource][(namespace, name)])

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += dt.timedelta(seconds=seconds)
            self.reconcile()

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects[resource].get((namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self.objects[resource].items())
                if namespace is None or ns == namespace
            ]

    def pods_of(self, deployment: str, namespace: str = "prod") -> list[dict[str, Any]]:
        return [p for p in self.list("pods", namespace) if p["metadata"]["labels"].get("app") == deployment]

    def replica_sets_of(self, deployment: str, namespace: str = "prod") -> list[dict[str, Any]]:
        d = self.get("deployments", namespace, deployment)
        return [rs for rs in self.list("replicasets", namespace) if _owned_by(rs, d)]

    # --- storage ---

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _next_uid(self, seed: str) -> str:
        self._uid += 1
        h = hashlib.sha256(f"{seed}/{self._uid}".encode()).hexdigest()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def _store(self, resource: str, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        if not dry_run:
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[resource][(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        return copy.deepcopy(obj)

    def _stamp(self, resource: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = KINDS[resource]
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _safe_hash([meta["generateName"], self._uid], 5)
        if not meta.get("name"):
            raise ApiError(
                422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value: name is required"
            )
        if kind.namespaced:
            meta["namespace"] = namespace
        meta["uid"] = self._next_uid(f"{resource}/{namespace}/{meta['name']}")
        meta["creationTimestamp"] = _ts(self.now)
        meta.pop("resourceVersion", None)
        if resource in ("deployments", "replicasets", "horizontalpodautoscalers"):
            meta["generation"] = 1
        return obj

    def create(
        self, resource: str, namespace: str, body: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        if resource not in WRITABLE:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {resource}")
        if KINDS[resource].namespaced and ("", namespace) not in self.objects["namespaces"]:
            raise not_found("namespaces", namespace)
        obj = self._stamp(resource, namespace, body)
        name = obj["metadata"]["name"]
        if (namespace, name) in self.objects[resource]:
            kind = KINDS[resource]
            raise ApiError(
                409,
                "AlreadyExists",
                f'{_qualified(resource)} "{name}" already exists',
                {"name": name, "group": kind.group, "kind": resource},
            )
        if resource == "deployments":
            _default_deployment(obj)
            obj["status"] = {}
        self._validate(resource, obj, None)
        stored = self._store(resource, obj, dry_run=dry_run)
        if not dry_run:
            self.reconcile()
            return self.get(resource, namespace, name)
        return stored

    def _validate(self, resource: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        name = obj["metadata"]["name"]
        causes: list[tuple[str, str]] = []
        spec = obj.get("spec") or {}
        if resource == "deployments":
            replicas = spec.get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                causes.append(
                    ("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")
                )
            selector = spec.get("selector") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not label_matcher(selector_string(selector))(labels):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        "Invalid value: `selector` does not match template `labels`",
                    )
                )
            if old is not None and selector != old["spec"].get("selector"):
                causes.append(("spec.selector", "Invalid value: field is immutable"))
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if not containers:
                causes.append(("spec.template.spec.containers", "Required value"))
            for i, c in enumerate(containers):
                if not c.get("image"):
                    causes.append((f"spec.template.spec.containers[{i}].image", "Required value"))
        if resource == "horizontalpodautoscalers":
            lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if not isinstance(lo, int) or lo < 1:
                causes.append(
                    ("spec.minReplicas", f"Invalid value: {lo!r}: must be greater than or equal to 1")
                )
            if not isinstance(hi, int) or (isinstance(lo, int) and hi < lo):
                causes.append(
                    (
                        "spec.maxReplicas",
                        f"Invalid value: {hi!r}: must be greater than or equal to `minReplicas`",
                    )
                )
        if causes:
            raise invalid(resource, name, causes)

    def _write(
        self, resource: str, namespace: str, name: str, new: dict[str, Any], *, dry_run: bool
    ) -> dict[str, Any]:
        """Replace an object as PUT and PATCH do: server-managed fields kept, optimistic concurrency."""
        old = self.objects[resource].get((namespace, name))
        if old is None:
            raise not_found(resource, name)
        sent_rv = (new.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise conflict(resource, name)
        if (new.get("metadata") or {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        obj = copy.deepcopy(new)
        kind = KINDS[resource]
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta = obj.setdefault("metadata", {})
        for managed in ("uid", "creationTimestamp", "namespace", "generation", "name"):
            if managed in old["metadata"]:
                meta[managed] = old["metadata"][managed]
        if "status" in old:
            obj["status"] = copy.deepcopy(old["status"])  # status only changes through /status
        if resource == "deployments":
            _default_deployment(obj)
        self._validate(resource, obj, old)
        if "generation" in meta and obj.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"]["generation"]) + 1
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if obj == old:
            return copy.deepcopy(old)  # a no-op write does not bump the resourceVersion
        stored = self._store(resource, obj, dry_run=dry_run)
        if not dry_run:
            self.reconcile()
            return self.get(resource, namespace, name)
        return stored

    def update(
        self, resource: str, namespace: str, name: str, body: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        return self._write(resource, namespace, name, body, dry_run=dry_run)

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        current = self.get(resource, namespace, name)
        new = _apply_patch(current, content_type, patch)
        return self._write(resource, namespace, name, new, dry_run=dry_run)

    def managed(self, resource: str, obj: dict[str, Any], manager: str, dry_run: bool) -> dict[str, Any]:
        """Record who wrote a ConfigMap and when, as the API server's managedFields do (other kinds are
        compared with kubectl's objects byte for byte, so they carry none)."""
        if resource != "configmaps" or dry_run:
            return obj
        meta = obj["metadata"]
        stored = self.objects[resource][(meta.get("namespace", ""), meta["name"])]
        entries = [m for m in stored["metadata"].get("managedFields") or [] if m.get("manager") != manager]
        entries.append({"manager": manager, "operation": "Update", "apiVersion": "v1", "time": _ts(self.now)})
        stored["metadata"]["managedFields"] = entries
        return copy.deepcopy(stored)

    def delete(self, resource: str, namespace: str, name: str, *, dry_run: bool = False) -> dict[str, Any]:
        obj = self.get(resource, namespace, name)
        if not dry_run:
            del self.objects[resource][(namespace, name)]
            self.reconcile()
        return obj

    # --- scale subresource ---

    def scale_of(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.get(resource, namespace, name)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: obj["metadata"][k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_string(obj["spec"]["selector"]),
            },
        }

    def write_scale(
        self, resource: str, namespace: str, name: str, scale: dict[str, Any], *, dry_run: bool
    ) -> dict[str, Any]:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas!r}: '
                "must be greater than or equal to 0",
            )
        obj = self.get(resource, namespace, name)
        obj["metadata"]["resourceVersion"] = (scale.get("metadata") or {}).get("resourceVersion") or obj[
            "metadata"
        ]["resourceVersion"]
        obj["spec"]["replicas"] = replicas
        self._write(resource, namespace, name, obj, dry_run=dry_run)
        if dry_run:
            result = self.scale_of(resource, namespace, name)
            result["spec"]["replicas"] = replicas
            return result
        return self.scale_of(resource, namespace, name)

    # --- controllers ---

    def reconcile(self) -> None:
        with self.lock:
            for hpa in list(self.objects["horizontalpodautoscalers"].values()):
                self._sync_hpa(hpa)
            for d in list(self.objects["deployments"].values()):
                self._sync_deployment(d)

    def _save_if_changed(self, resource: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if before != after:
            self._store(resource, after)

    def _sync_hpa(self, hpa: dict[str, Any]) -> None:
        ns = hpa["metadata"]["namespace"]
        ref = hpa["spec"]["scaleTargetRef"]
        target = self.objects["deployments"].get((ns, ref["name"]))
        if target is None or ref.get("kind") != "Deployment":
            return
        lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        current = target["spec"]["replicas"]
        desired = min(max(current, lo), hi)
        if desired != current:
            after = copy.deepcopy(target)
            after["spec"]["replicas"] = desired
            after["metadata"]["generation"] += 1
            self._store("deployments", after)
        before = copy.deepcopy(hpa)
        status = {"currentReplicas": current, "desiredReplicas": desired}
        last_scale = (
            _ts(self.now) if desired != current else (before.get("status") or {}).get("lastScaleTime")
        )
        hpa["status"] = {**status, **({"lastScaleTime": last_scale} if last_scale else {})}
        self._save_if_changed("horizontalpodautoscalers", before, hpa)

    def _image_state(self, template: dict[str, Any]) -> str:
        states = [self.behaviour.get(c["image"], "healthy") for c in template["spec"]["containers"]]
        return max(states, key=BEHAVIOURS.index)

    def _sync_deployment(self, d: dict[str, Any]) -> None:
        ns = d["metadata"]["namespace"]
        uid = d["metadata"]["uid"]
        rss = [rs for (n, _), rs in self.objects["replicasets"].items() if n == ns and _owned_by(rs, d)]
        template = d["spec"]["template"]
        new = next(
            (rs for rs in rss if _without_hash(rs["spec"]["template"]) == _without_hash(template)), None
        )
        max_rev = max(
            (int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in rss), default=0
        )
        desired = d["spec"]["replicas"]
        paused = bool(d["spec"].get("paused"))
        if new is None and not paused:
            new = self._new_replica_set(d, max_rev + 1)
            rss.append(new)
            self._progress[uid] = self.now
        elif new is not None and not paused:
            before = copy.deepcopy(new)
            annotations = new["metadata"].setdefault("annotations", {})
            rev = int(annotations.get(REVISION, "0"))
            if rev < max_rev:  # rolled back to an older template: it becomes the newest revision
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, str(rev)])
                annotations[REVISION] = str(max_rev + 1)
                self._progress[uid] = self.now
            for k, v in (d["metadata"].get("annotations") or {}).items():
                if k not in SKIP_COPY:
                    annotations[k] = v
            self._save_if_changed("replicasets", before, new)
        before_d = copy.deepcopy(d)
        if new is not None:
            d["metadata"].setdefault("annotations", {})[REVISION] = new["metadata"]["annotations"][REVISION]
        # replicas: a healthy new revision takes over; an unhealthy one stalls where a rolling update would
        targets: dict[str, int] = {}
        if new is not None:
            olds = [rs for rs in rss if rs is not new and rs["spec"].get("replicas", 0) > 0]
            strategy = d["spec"]["strategy"]
            healthy = self._image_state(new["spec"]["template"]) == "healthy"
            if healthy or not olds or strategy["type"] == "Recreate":
                targets = {rs["metadata"]["name"]: 0 for rs in rss}
                targets[new["metadata"]["name"]] = desired
            else:
                rolling = strategy.get("rollingUpdate") or {}
                surge = _intstr(rolling.get("maxSurge", "25%"), desired, True)
                unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, False)
                if surge == 0 and unavailable == 0:
                    unavailable = 1
                keep = max(desired - unavailable, 0)
                targets = {rs["metadata"]["name"]: 0 for rs in rss}
                targets[new["metadata"]["name"]] = min(desired, surge + unavailable)
                main = max(olds, key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))
                targets[main["metadata"]["name"]] = keep
        for rs in rss:
            want = targets.get(rs["metadata"]["name"], rs["spec"].get("replicas", 0))
            self._sync_replica_set(rs, want, desired, d)
        self._cleanup(d, rss, new)
        self._deployment_status(d, new)
        self._save_if_changed("deployments", before_d, d)

    def _new_replica_set(self, d: dict[str, Any], revision: int) -> dict[str, Any]:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = _safe_hash(_without_hash(template))
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        annotations = {
            k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in SKIP_COPY
        }
        annotations[REVISION] = str(revision)
        annotations[DESIRED] = str(d["spec"]["replicas"])
        annotations[MAX] = str(d["spec"]["replicas"] + 1)
        rs = self._stamp(
            "replicasets",
            ns,
            {
                "metadata": {
                    "name": f"{name}-{pod_hash}",
                    "labels": {**template["metadata"]["labels"]},
                    "annotations": annotations,
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": d["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {"replicas": 0, "selector": selector, "template": template},
                "status": {"replicas": 0},
            },
        )
        self._event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} from 0 to {d['spec']['replicas']}",
        )
        self._store("replicasets", rs)
        return self.objects["replicasets"][(ns, rs["metadata"]["name"])]

    def _sync_replica_set(self, rs: dict[str, Any], replicas: int, desired: int, d: dict[str, Any]) -> None:
        ns = rs["metadata"]["namespace"]
        before = copy.deepcopy(rs)
        if rs["spec"].get("replicas", 0) != replicas:
            rs["spec"]["replicas"] = replicas
            rs["metadata"]["generation"] += 1
            rs["metadata"]["annotations"][DESIRED] = str(desired)
            rs["metadata"]["annotations"][MAX] = str(desired + 1)
        pods = sorted(
            (p for (n, _), p in self.objects["pods"].items() if n == ns and _owned_by(p, rs)),
            key=lambda p: p["metadata"]["name"],
        )
        for p in pods[replicas:]:
            del self.objects["pods"][(ns, p["metadata"]["name"])]
        for _ in range(len(pods), replicas):
            pods.append(self._new_pod(rs))
        live = pods[:replicas]
        ready = sum(1 for p in live if _pod_ready(p))
        rs["status"] = {
            "replicas": len(live),
            "fullyLabeledReplicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        }
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if rs["status"][k] == 0:
                del rs["status"][k]
        self._save_if_changed("replicasets", before, rs)

    def _new_pod(self, rs: dict[str, Any]) -> dict[str, Any]:
        ns = rs["metadata"]["namespace"]
        self._pods += 1
        template = rs["spec"]["template"]
        state = self._image_state(template)
        name = f"{rs['metadata']['name']}-{_safe_hash([rs['metadata']['name'], self._pods], 5)}"
        node = None if state == "pending" else self.nodes[self._pods % len(self.nodes)]
        spec = copy.deepcopy(template["spec"])
        if node:
            spec["nodeName"] = node
        pod = self._stamp(
            "pods",
            ns,
            {
                "metadata": {
                    "name": name,
                    "generateName": rs["metadata"]["name"] + "-",
                    "labels": copy.deepcopy(template["metadata"].get("labels") or {}),
                    "annotations": copy.deepcopy(template["metadata"].get("annotations") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": spec,
                "status": self._pod_status(spec, state),
            },
        )
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        stored = self._store("pods", pod)
        self._pod_events(stored, state)
        return self.objects["pods"][(ns, name)]

    def _pod_status(self, spec: dict[str, Any], state: str) -> dict[str, Any]:
        start = _ts(self.now)
        statuses = []
        for c in spec["containers"]:
            cs: dict[str, Any] = {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": state == "healthy",
                "started": state == "healthy",
                "restartCount": 0,
            }
            if state == "healthy":
                cs["state"] = {"running": {"startedAt": start}}
                cs["imageID"] = f"docker.io/library/{c['image']}@sha256:{_safe_hash(c['image'], 16)}"
            elif state in ("crashloop", "oom"):
                reason, code = ("OOMKilled", 137) if state == "oom" else ("Error", 1)
                cs["restartCount"] = 5 if state == "crashloop" else 3
                cs["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 5m0s restarting failed container={c['name']}",
                    }
                }
                cs["lastState"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "startedAt": start,
                        "finishedAt": start,
                    }
                }
            elif state == "imagepull":
                cs["state"] = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{c["image"]}"',
                    }
                }
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        if state == "pending":
            return {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available: 3 Insufficient cpu.",
                        "lastTransitionTime": start,
                    }
                ],
            }
        ready = "True" if state == "healthy" else "False"
        return {
            "phase": "Pending" if state == "imagepull" else "Running",
            "qosClass": "BestEffort",
            "startTime": start,
            "hostIP": "127.0.0.1",
            "podIP": f"127.0.1.{self._pods % 250 + 1}",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": start},
                {"type": "Ready", "status": ready, "lastTransitionTime": start},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": start},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": start},
            ],
            "containerStatuses": statuses,
        }

    def _pod_events(self, pod: dict[str, Any], state: str) -> None:
        image = pod["spec"]["containers"][0]["image"]
        container = pod["spec"]["containers"][0]["name"]
        if state == "crashloop" or state == "oom":
            self._event(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {container} in pod "
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                count=5,
            )
        elif state == "imagepull":
            self._event(
                pod,
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
                f'unpack image "docker.io/library/{image}": not found',
            )
            self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", count=4)
        elif state == "pending":
            self._event(
                pod,
                "Warning",
                "FailedScheduling",
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                "3 No preemption victims found for incoming pod.",
                source="default-scheduler",
            )
        else:
            self._event(pod, "Normal", "Started", f"Started container {container}")

    def _event(
        self,
        obj: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        *,
        count: int = 1,
        source: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        component = source or {
            "Deployment": "deployment-controller",
            "ReplicaSet": "replicaset-controller",
        }.get(obj["kind"], "kubelet")
        ev = self._stamp(
            "events",
            meta["namespace"],
            {
                "metadata": {"name": f"{meta['name']}.{_safe_hash([meta['uid'], reason, self._uid], 16)}"},
                "involvedObject": {
                    "kind": obj["kind"],
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": obj["apiVersion"],
                },
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "firstTimestamp": _ts(self.now),
                "lastTimestamp": _ts(self.now),
                "count": count,
                "type": type_,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": "",
            },
        )
        self._store("events", ev)

    def _cleanup(self, d: dict[str, Any], rss: list[dict[str, Any]], new: dict[str, Any] | None) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        old = [rs for rs in rss if rs is not new and rs["spec"].get("replicas", 0) == 0]
        old.sort(key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))
        for rs in old[: max(len(old) - limit, 0)]:
            self.objects["replicasets"].pop((rs["metadata"]["namespace"], rs["metadata"]["name"]), None)

    def _deployment_status(self, d: dict[str, Any], new: dict[str, Any] | None) -> None:
        ns = d["metadata"]["namespace"]
        rss = [rs for (n, _), rs in self.objects["replicasets"].items() if n == ns and _owned_by(rs, d)]
        desired = d["spec"]["replicas"]
        total = sum(rs["status"].get("replicas", 0) for rs in rss)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in rss)
        updated = new["status"].get("replicas", 0) if new else 0
        new_ready = new["status"].get("readyReplicas", 0) if new else 0
        old_status = d.get("status") or {}
        old_conditions = {c["type"]: c for c in old_status.get("conditions", [])}
        rolling = d["spec"]["strategy"].get("rollingUpdate") or {}
        unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, False) if rolling else 0
        available_ok = ready >= desired - unavailable
        uid = d["metadata"]["uid"]
        since = self._progress.get(uid, self.now)
        rs_name = new["metadata"]["name"] if new else ""
        complete = new is not None and updated == desired and total == desired and new_ready == desired
        if d["spec"].get("paused"):
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif (self.now - since).total_seconds() > d["spec"]["progressDeadlineSeconds"]:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        available = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available_ok
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        )
        conditions = []
        for type_, (status, reason, message) in (("Available", available), ("Progressing", progressing)):
            previous = old_conditions.get(type_)
            changed = previous is None or (previous["status"], previous["reason"], previous["message"]) != (
                status,
                reason,
                message,
            )
            transition = (
                previous["lastTransitionTime"] if previous and previous["status"] == status else _ts(self.now)
            )
            update = _ts(self.now) if changed else previous["lastUpdateTime"]  # type: ignore[index]
            if type_ == "Progressing" and status == "True" and reason == "ReplicaSetUpdated":
                update = _ts(since)
            conditions.append(
                {
                    "type": type_,
                    "status": status,
                    "lastUpdateTime": update,
                    "lastTransitionTime": transition,
                    "reason": reason,
                    "message": message,
                }
            )
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(total - ready, desired - ready, 0),
            "conditions": conditions,
        }
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if status[k] == 0:
                del status[k]
        d["status"] = status

    # --- logs ---

    def pod_log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        pod = self.get("pods", namespace, name)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: {containers}",
            )
        if container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        status = (
            next(s for s in pod["status"].get("containerStatuses", []) if s["name"] == container)
            if pod["status"].get("containerStatuses")
            else None
        )
        previous = query.get("previous") == "true"
        if previous and (status is None or status["restartCount"] == 0):
            raise ApiError(
                400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if not previous and (
            status is None or ("waiting" in status["state"] and status["restartCount"] == 0)
        ):
            reason = status["state"]["waiting"]["reason"] if status else "ContainerCreating"
            raise ApiError(
                400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        state = self.behaviour.get(spec["image"], "healthy")
        lines = self.logs.get(spec["image"]) or _default_log(spec["image"], state)
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) > 0 else []
        text = "".join(line + "\n" for line in lines)
        if "limitBytes" in query:
            text = text.encode()[: int(query["limitBytes"])].decode(errors="ignore")
        return text


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


def _apply_patch(current: dict[str, Any], content_type: str, patch: Any) -> dict[str, Any]:
    try:
        if content_type == "application/json-patch+json":
            return json_patch(current, patch)  # type: ignore[no-any-return]
        if content_type == "application/merge-patch+json":
            return merge_patch(current, patch)  # type: ignore[no-any-return]
        if content_type == "application/strategic-merge-patch+json":
            return strategic_merge_patch(current, patch)  # type: ignore[no-any-return]
    except PatchError as exc:
        raise ApiError(422, "Invalid", str(exc)) from None
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        f'application/strategic-merge-patch+json; got "{content_type}"',
    )


# --- HTTP ------------------------------------------------------------------------------------------


def _discovery() -> dict[str, list[dict[str, Any]]]:
    """The resource lists of legacy discovery, per group/version: what this server serves, no more."""
    by_version: dict[str, list[dict[str, Any]]] = {}
    for resource, kind in KINDS.items():
        verbs = ["get", "list"] + (["create", "update", "patch", "delete"] if resource in WRITABLE else [])
        by_version.setdefault(kind.api_version, []).append(
            {
                "name": resource,
                "singularName": kind.singular,
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": verbs,
                "shortNames": list(kind.short),
                **(
                    {"categories": ["all"]}
                    if resource in ("deployments", "replicasets", "pods", "horizontalpodautoscalers")
                    else {}
                ),
            }
        )
        for sub in kind.subresources:
            entry: dict[str, Any] = {
                "name": f"{resource}/{sub}",
                "singularName": "",
                "namespaced": True,
                "kind": kind.kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale")
            if sub == "log":
                entry.update(kind="Pod", verbs=["get"])
            by_version[kind.api_version].append(entry)
    return by_version


class KubeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cluster: FakeCluster, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = cluster
        self.ssl_context = context
        self.discovery = _discovery()

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up (a timeout test) is fine
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(tls, client_address, self)


_NS_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[a-z0-9.]+)/(?P<v>v[0-9a-z]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)


class _Handler(BaseHTTPRequestHandler):
    server: KubeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> int:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(raw)
        return len(raw)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _identity(self) -> Identity:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""  # the scheme is case-insensitive
        identity = self.server.cluster.identities.get(token)
        if identity is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return identity

    def _handle(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with cluster.lock:
            cluster.requests.append((method, url.path))
            cluster.queries.append(url.query)
        started = time.perf_counter()
        if url.path.startswith(("/api/", "/apis/")) and url.path.count("/") > 3:
            time.sleep(cluster.stall.get(method, 0.0))  # a slow API server (or one behind a dead LB)
        try:
            identity = self._identity()
            code, body, ctype = self._route(method, url.path, query, raw, identity)
        except ApiError as exc:
            code, body, ctype = exc.code, exc.status(), "application/json"
        size = self._send(code, body, ctype)
        with cluster.lock:
            cluster.server_seconds += time.perf_counter() - started
            cluster.response_bytes += size
        for hook in list(cluster.after_request):
            hook(method, url.path)

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, identity: Identity
    ) -> tuple[int, Any, str]:
        cluster = self.server.cluster
        discovery = self.server.discovery
        if method == "GET":
            if path == "/version":
                return (
                    200,
                    {
                        "major": "1",
                        "minor": "32",
                        "gitVersion": "v1.32.4-warroom-test",
                        "platform": "linux/amd64",
                    },
                    "application/json",
                )
            if path == "/api":
                return (
                    200,
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {
                                "clientCIDR": "0.0.0.0/0",
                                "serverAddress": f"127.0.0.1:{self.server.server_address[1]}",
                            }
                        ],
                    },
                    "application/json",
                )
            if path == "/apis":
                groups: dict[str, list[str]] = {}
                for kind in KINDS.values():
                    if kind.group and kind.version not in groups.setdefault(kind.group, []):
                        groups[kind.group].append(kind.version)
                return (
                    200,
                    {
                        "kind": "APIGroupList",
                        "apiVersion": "v1",
                        "groups": [
                            {
                                "name": g,
                                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                            }
                            for g, vs in sorted(groups.items())
                        ],
                    },
                    "application/json",
                )
            gv = (
                path.removeprefix("/apis/").removeprefix("/api/")
                if path.startswith(("/apis/", "/api/"))
                else ""
            )
            if gv in discovery and path in (f"/api/{gv}", f"/apis/{gv}"):
                return (
                    200,
                    {
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": gv,
                        "resources": discovery[gv],
                    },
                    "application/json",
                )
        m = _NS_PATH.match(path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group = m.group("g") or ""
        version = m.group("cv") or m.group("v")
        ns, resource, name, sub = m.group("ns"), m.group("res"), m.group("name"), m.group("sub")
        kind = KINDS.get(resource)
        if kind is None or kind.group != group or kind.version != version:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = unquote(name) if name else None
        verb = {
            "GET": "get" if name else "list",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }[method]
        if query.get("watch") in ("true", "1"):
            verb = "watch"
        target = f"{resource}/{sub}" if sub else resource
        if not any(rule.allows(verb, target) for rule in identity.rules):
            what = f'{_qualified(resource)} "{name}"' if name else _qualified(resource)
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            raise ApiError(
                403,
                "Forbidden",
                f'{what} is forbidden: User "{identity.user}" cannot {verb} resource "{target}" '
                f'in API group "{group}"{where}',
                {"name": name or "", "group": group, "kind": resource},
            )
        if verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not served by the test API server")
        dry_run = False
        if "dryRun" in query:
            if query["dryRun"] != "All":
                raise ApiError(
                    400,
                    "BadRequest",
                    f'invalid dry run option: {query["dryRun"]!r}; the only allowed value is "All"',
                )
            dry_run = True
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(
                    400, "BadRequest", "the body of the request could not be decoded as JSON"
                ) from None
        with cluster.lock:
            if sub == "log" and resource == "pods" and method == "GET":
                return 200, cluster.pod_log(ns or "", name or "", query), "text/plain"
            if sub == "scale" and name:
                if method == "GET":
                    return 200, cluster.scale_of(resource, ns or "", name), "application/json"
                if method == "PUT":
                    return (
                        200,
                        cluster.write_scale(resource, ns or "", name, body or {}, dry_run=dry_run),
                        "application/json",
                    )
                if method == "PATCH":
                    scale = _apply_patch(
                        cluster.scale_of(resource, ns or "", name),
                        self.headers.get("Content-Type", "").split(";")[0],
                        body,
                    )
                    return (
                        200,
                        cluster.write_scale(resource, ns or "", name, scale, dry_run=dry_run),
                        "application/json",
                    )
            if sub is not None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if method == "GET" and name:
                return 200, cluster.get(resource, ns or "", name), "application/json"
            if method == "GET":
                match_labels = label_matcher(query.get("labelSelector"))
                match_fields = field_matcher(resource, query.get("fieldSelector"))
                items = [
                    o
                    for o in cluster.list(resource, ns)
                    if match_labels(o["metadata"].get("labels") or {}) and match_fields(o)
                ]
                for o in items:
                    o.pop("apiVersion", None)
                    o.pop("kind", None)
                return (
                    200,
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": kind.api_version,
                        "metadata": {"resourceVersion": str(cluster._rv)},
                        "items": items,
                    },
                    "application/json",
                )
            manager = query.get("fieldManager") or self.headers.get("User-Agent", "unknown").split("/")[0]
            if method == "POST":
                created = cluster.create(resource, ns or "", body or {}, dry_run=dry_run)
                return 201, cluster.managed(resource, created, manager, dry_run), "application/json"
            if method == "PUT" and name:
                updated = cluster.update(resource, ns or "", name, body or {}, dry_run=dry_run)
                return 200, cluster.managed(resource, updated, manager, dry_run), "application/json"
            if method == "PATCH" and name:
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                patched = cluster.patch(resource, ns or "", name, ctype, body, dry_run=dry_run)
                return 200, cluster.managed(resource, patched, manager, dry_run), "application/json"
            if method == "DELETE" and name:
                return 200, cluster.delete(resource, ns or "", name, dry_run=dry_run), "application/json"
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )


# --- TLS and kubeconfig ------------------------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: bytes
    context: ssl.SSLContext


def make_pki(directory: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warroom-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    return Pki(ca_pem, context)


@dataclass
class RunningCluster:
    cluster: FakeCluster
    url: str
    kubeconfig: Path
    directory: Path
    ca_pem: bytes

    def write_kubeconfig(
        self,
        path: Path,
        token: str = ADMIN_TOKEN,
        *,
        context: str = "test",
        extra: dict[str, str] | None = None,
    ) -> Path:
        """A kubeconfig with context ``context`` (and more contexts: name -> token)."""
        contexts = {context: token, **(extra or {})}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [
                {
                    "name": "warroom-test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": f"user-{name}", "user": {"token": tok}} for name, tok in contexts.items()],
            "contexts": [
                {
                    "name": name,
                    "context": {"cluster": "warroom-test", "user": f"user-{name}", "namespace": "prod"},
                }
                for name in contexts
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def kubectl_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.directory / "kubectl-cache"),
            "HOME": str(self.directory),
        }

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server (namespace prod unless -n says otherwise)."""
        done = subprocess.run(
            ["kubectl", *args], env=self.kubectl_env(), capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done


@contextmanager
def running_cluster(
    cluster: FakeCluster | None = None, directory: Path | None = None
) -> Iterator[RunningCluster]:
    cluster = cluster or FakeCluster()
    with tempfile.TemporaryDirectory(prefix="warroom-kube-") as tmp:
        base = directory or Path(tmp)
        pki = make_pki(base / "pki")
        server = KubeServer(cluster, pki.context)
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="kube-api")
        thread.start()
        url = f"https://127.0.0.1:{server.server_address[1]}"
        running = RunningCluster(cluster, url, base / "kubeconfig", base, pki.ca_pem)
        running.write_kubeconfig(running.kubeconfig)
        try:
            yield running
        finally:
            server.shutdown()
            server.server_close()


def rollout_scene(
    cluster: FakeCluster,
    name: str = "web",
    *,
    state: str = "healthy",
    replicas: int = 4,
    minutes_ago: float = 5,
    namespace: str = "prod",
    revisions: int = 2,
) -> None:
    """A Deployment that ran ``name:1`` for hours, then got ``revisions - 1`` more images, the last one
    ``minutes_ago`` (whose pods behave as ``state``)."""
    cluster.add_namespace(namespace)
    cluster.now -= dt.timedelta(hours=revisions - 1, minutes=minutes_ago)
    if revisions == 1:
        cluster.behaviour[f"{name}:1"] = state
    cluster.create_deployment(
        name,
        f"{name}:1",
        namespace=namespace,
        replicas=replicas,
        annotations={"kubernetes.io/change-cause": "release 1"},
    )
    for n in range(2, revisions + 1):
        cluster.advance(3600)
        if n == revisions:
            cluster.behaviour[f"{name}:{n}"] = state
        cluster.set_image(name, f"{name}:{n}", namespace=namespace, change_cause=f"release {n}")
    cluster.advance(minutes_ago * 60)
