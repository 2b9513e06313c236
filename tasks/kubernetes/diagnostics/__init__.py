"""Kubernetes diagnostics: they only read (get and list, with selectors; never pod by pod). One module
per step, and ``revisions`` for reading a Deployment's history."""

from tasks.kubernetes.diagnostics.baseline import baseline
from tasks.kubernetes.diagnostics.events import events
from tasks.kubernetes.diagnostics.logs import logs
from tasks.kubernetes.diagnostics.pods import pod_health
from tasks.kubernetes.diagnostics.rollout import deployment_status, rollout_history, status_result

__all__ = [
    "baseline",
    "deployment_status",
    "events",
    "logs",
    "pod_health",
    "rollout_history",
    "status_result",
]
