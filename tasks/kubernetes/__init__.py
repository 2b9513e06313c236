"""Kubernetes steps: diagnostics of a Deployment, and its mitigations (rollback, scale, restart).

Through the official ``kubernetes`` client (kubeconfig, context or in-cluster), one module per question:
``client`` (connecting, calling with a timeout, errors), ``objects`` (reading API objects as kubectl does),
``models`` (params and results), ``diagnostics`` and ``mitigations`` (the steps).
"""

from tasks.kubernetes import diagnostics, mitigations
from tasks.kubernetes.models import DeploymentChange, DeploymentRef

__all__ = ["DeploymentChange", "DeploymentRef", "diagnostics", "mitigations"]
