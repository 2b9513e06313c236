"""Setting the scene: the Deployments, images and HPAs a test or the demo starts from, written as a
client would write them, and the tokens it may use."""

from __future__ import annotations

from typing import Any

from sandbox.kube.access import Identity, Rule
from sandbox.kube.store import ClusterStore


class SeededStore(ClusterStore):
    """A cluster's store with the writes that set a scene."""

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
        body: dict[str, Any] = {
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
        body: dict[str, Any] = {
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
