"""Kubernetes mitigations: rollback, scale, restart. Each changes production, so each runs only after an
approval; each has a dry run through the API server's ``dryRun=All`` and says how to go back. One module
per step, and ``writes`` for how every one of them writes."""

from tasks.kubernetes.mitigations.restart import restart, restart_dry_run
from tasks.kubernetes.mitigations.rollback import rollback, rollback_dry_run, rollback_patch
from tasks.kubernetes.mitigations.scale import scale, scale_dry_run, scale_target

__all__ = [
    "restart",
    "restart_dry_run",
    "rollback",
    "rollback_dry_run",
    "rollback_patch",
    "scale",
    "scale_dry_run",
    "scale_target",
]
