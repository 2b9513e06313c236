"""The sandbox Kubernetes API server: the real wire format, a small deployment controller, on loopback.

It is what `warroom demo` plays against, and what the tests drive with Warroom and with ``kubectl``.

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

from sandbox.kube.access import READ_ONLY, Identity, Rule
from sandbox.kube.api import ADMIN_TOKEN, HASH_LABEL, KINDS, REVISION, START, ApiError
from sandbox.kube.controllers import FakeCluster
from sandbox.kube.tls import RunningCluster, make_pki, rollout_scene, running_cluster

__all__ = [
    "ADMIN_TOKEN",
    "HASH_LABEL",
    "KINDS",
    "READ_ONLY",
    "REVISION",
    "START",
    "ApiError",
    "FakeCluster",
    "Identity",
    "Rule",
    "RunningCluster",
    "make_pki",
    "rollout_scene",
    "running_cluster",
]
