"""Prefect tasks that touch the world, one module per system; each registers its runbook steps."""
