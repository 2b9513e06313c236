"""A cluster's objects and what the API server does to them: stamping, validation, resourceVersion
concurrency, patches, the scale subresource, managed fields."""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.kube.access import Identity, Rule
from sandbox.kube.api import (
    ADMIN_TOKEN,
    KINDS,
    WRITABLE,
    ApiError,
    _qualified,
    conflict,
    invalid,
    label_matcher,
    not_found,
    selector_string,
)
from sandbox.kube.defaults import _default_deployment, _owned_by, _safe_hash, _ts
from sandbox.kube.patch import apply_patch


@dataclass
class ClusterStore:
    """The objects and the clock of one cluster: create, read, write and patch as the API server does."""

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

    def list(self, resource: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self.objects[resource].items())
                if namespace is None or ns == namespace
            ]

    def pods_of(self, deployment: str, namespace: str = "prod") -> builtins.list[dict[str, Any]]:
        return [p for p in self.list("pods", namespace) if p["metadata"]["labels"].get("app") == deployment]

    def replica_sets_of(self, deployment: str, namespace: str = "prod") -> builtins.list[dict[str, Any]]:
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
        new = apply_patch(current, content_type, patch)
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

    def reconcile(self) -> None:
        """The controllers' pass after every write (``FakeCluster``)."""
