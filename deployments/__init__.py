"""How the runbook flows are served."""
