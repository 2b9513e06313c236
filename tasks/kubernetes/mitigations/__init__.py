"""Kubernetes mitigations: rollback, scale, restart. Each changes production, so each runs only after an
approval; each is its own dry run (``dry_run=True``, through the API server's ``dryRun=All``) and says how
to go back. One module per step, and ``writes`` for how every one of them writes."""

from tasks.kubernetes.mitigations.restart import restart
from tasks.kubernetes.mitigations.rollback import rollback, rollback_patch
from tasks.kubernetes.mitigations.scale import scale, scale_target

__all__ = ["restart", "rollback", "rollback_patch", "scale", "scale_target"]
