"""Reading a Deployment and what it owns, as kubectl finds them: one get, and one list per kind with the
Deployment's label selector. Diagnostics and mitigations both read through here.
"""

from __future__ import annotations

from typing import Any

from tasks.kubernetes.client import Kube, Target
from tasks.kubernetes.models import DeploymentRef
from tasks.kubernetes.objects import Obj, controlled_by, meta, revision_of, selector_string


def read_deployment(kube: Kube, ref: DeploymentRef) -> Obj:
    target = Target("get", "deployments.apps", ref.deployment, ref.namespace)
    return kube.call(target, kube.apps.read_namespaced_deployment, ref.deployment, ref.namespace)


def _selected(kube: Kube, d: Obj, resource: str, list_method: Any) -> list[Obj]:
    """One list of ``resource`` in the Deployment's namespace with the Deployment's label selector."""
    ns = meta(d)["namespace"]
    listed = kube.call(
        Target("list", resource, namespace=ns),
        list_method,
        ns,
        label_selector=selector_string(d["spec"].get("selector")),
    )
    return list(listed.get("items") or [])


def replica_sets(kube: Kube, d: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets, newest revision first (as kubectl finds them: selector + owner)."""
    listed = _selected(kube, d, "replicasets.apps", kube.apps.list_namespaced_replica_set)
    owned = [rs for rs in listed if controlled_by(rs, d)]
    return sorted(owned, key=lambda rs: revision_of(rs) or 0, reverse=True)


def pods_of(kube: Kube, d: Obj) -> list[Obj]:
    return _selected(kube, d, "pods", kube.core.list_namespaced_pod)
