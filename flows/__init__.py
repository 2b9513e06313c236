"""The phases of an incident response as Prefect flows."""
