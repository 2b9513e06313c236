"""What a runbook resolves to for one alert: its params and the key that groups alerts into an incident."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warroom.incident import Severity
from warroom.runbook.model import Runbook
from warroom.severity import Triage, classify


def dedup_key_for(runbook: Runbook, alert: Mapping[str, Any] | None, fallback: str) -> str:
    """The alert's fingerprint (or group key, when the runbook groups), else a per-run key."""
    if alert:
        value = alert.get("group_key") if runbook.group_by == "group" else alert.get("fingerprint")
        if value:
            return f"{runbook.name}:{value}"
    return fallback


# --- params at run time -----------------------------------------------------------------------------------


def lookup_alert_path(alert: Mapping[str, Any], path: str) -> Any:
    """Resolve ``alert.labels.NAME`` (a ``from:``) against alert data; None when absent."""
    value: Any = {"alert": alert}
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def resolve_params(
    runbook: Runbook, given: Mapping[str, Any] | None = None, alert: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Typed params from what was given, then the alert (``from:``), then defaults.

    Raises :class:`ValueError` naming every param that is unknown, missing or of the wrong type.
    """
    given = dict(given or {})
    errors = [
        f"params.{k}: unknown param (known: {', '.join(runbook.params) or 'none'})"
        for k in given
        if k not in runbook.params
    ]
    out: dict[str, Any] = {}
    for name, spec in runbook.params.items():
        raw = given.get(name)
        if raw is None and spec.from_ and alert is not None:
            raw = lookup_alert_path(alert, spec.from_)
        if raw is None:
            raw = spec.default
        if raw is None:
            where = f" (alert has no {spec.from_})" if spec.from_ else ""
            errors.append(f"params.{name}: required{where}")
            continue
        try:
            out[name] = spec.coerce(raw)
        except ValueError as exc:
            errors.append(f"params.{name}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out


def severity_of(
    runbook: Runbook, alert: Mapping[str, Any] | None, params: Mapping[str, Any], default: Severity
) -> Triage:
    """The level the runbook's severity rules give one run, decided once: by the receiver for an alert's
    run, by the run itself for a person's start. A rule reads ``alert.*`` and ``params.*``: the params as the
    run resolves them (given, then the alert's ``from:``, then defaults; see ``alert_params``)."""
    return classify(runbook.severity, {"alert": dict(alert or {}), "params": dict(params)}, default)


def alert_params(runbook: Runbook, alert: Mapping[str, Any]) -> dict[str, Any]:
    """The params an alert's run resolves to, as its severity rules read them; empty when they do not
    resolve (the run then fails on them, and a rule reading them does not match)."""
    try:
        return resolve_params(runbook, None, alert)
    except ValueError:
        return {}
