"""How the Kubernetes steps reach the cluster: kubeconfig or in-cluster service account, context, timeout."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field

from warroom.settings import IntegrationSettings, integration_config


class KubeSettings(IntegrationSettings):
    """Kubernetes (the `kubernetes.*` steps)"""

    model_config = integration_config("kube")

    kubeconfig: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WARROOM_KUBECONFIG", "KUBECONFIG"),
        description="Kubeconfig file(s), ':'-separated; default ~/.kube/config, then in-cluster",
    )
    context: str | None = Field(
        default=None, description="Kubeconfig context (default: the current one); a step's `context:` wins"
    )
    timeout: float = Field(default=15.0, gt=0, description="Seconds for any one Kubernetes API call")
    serviceaccount_dir: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount"),
        description="In-cluster token and CA (used when no kubeconfig exists)",
    )
    service_host: str | None = Field(
        default=None, validation_alias="KUBERNETES_SERVICE_HOST", description="Set by Kubernetes in a pod"
    )
    service_port: str | None = Field(
        default=None, validation_alias="KUBERNETES_SERVICE_PORT", description="Set by Kubernetes in a pod"
    )
