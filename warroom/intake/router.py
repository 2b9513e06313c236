"""From parsed alerts to incidents and queued runbook launches: matching, dedup, resolved handling."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from warroom.events import EventKind
from warroom.incident import Incident, Severity
from warroom.intake.alert import Alert, AlertStatus
from warroom.ledger import AttemptState, RunLedger, Store
from warroom.runbook import Catalogue, alert_params, dedup_key_for, severity_of
from warroom.severity import classify

RouteAction = Literal["opened", "attached", "relaunched", "resolved", "resolved_without_incident"]


@dataclass(frozen=True)
class Routed:
    fingerprint: str
    status: str
    action: RouteAction
    incident: str | None
    runbook: str | None
    launch_queued: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "action": self.action,
            "incident": self.incident,
            "runbook": self.runbook,
            "launch_queued": self.launch_queued,
        }


def launch_key(runbook: str, dedup_key: str, alert: Alert) -> str:
    """Same runbook, same incident key, same alert start: the same launch (Alertmanager retries, storms)."""
    raw = f"{runbook}|{dedup_key}|{alert.starts_at.isoformat() if alert.starts_at else ''}"
    return "alert-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


class Router:
    def __init__(
        self,
        store: Store,
        catalogue: Callable[[], Catalogue],
        default_severity: Severity,
        wake_launcher: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.default_severity = default_severity
        self.wake_launcher = wake_launcher

    def route(self, alerts: list[Alert]) -> list[Routed]:
        catalogue = self.catalogue()
        out = [self._one(alert, catalogue) for alert in alerts]
        if any(r.launch_queued or (r.action == "opened" and r.runbook is None) for r in out):
            # It launches the runbooks, and triages what no runbook matched: once they are committed.
            self.store.after_commit(self.wake_launcher)
        return out

    def _one(self, alert: Alert, catalogue: Catalogue) -> Routed:
        loaded = catalogue.match(alert.labels)
        rb = loaded.runbook if loaded else None
        ctx = alert.context()
        key = dedup_key_for(rb, ctx, "") if rb else f"unrouted:{alert.group_key or alert.fingerprint}"
        key = key or f"{rb.name if rb else 'unrouted'}:{alert.fingerprint}"
        name = rb.name if rb else None

        if alert.status is AlertStatus.RESOLVED:
            # Recorded, never acted on: a resolved alert starts nothing.
            incident = self.store.find_open(key)
            if incident is None:
                return Routed(alert.fingerprint, alert.status.value, "resolved_without_incident", None, name)
            self.store.append(
                incident.number,
                EventKind.ALERT_RESOLVED,
                f"alert resolved: {alert.summary()}",
                data={"alert": ctx},
                key=f"alert-resolved:{alert.fingerprint}:{alert.ends_at or ''}",
            )
            return Routed(alert.fingerprint, alert.status.value, "resolved", incident.id, name)

        triage = (
            severity_of(rb, ctx, alert_params(rb, ctx), self.default_severity)
            if rb
            else classify([], {"alert": ctx}, self.default_severity)
        )
        summary = alert.annotations.get("summary")
        opened = self.store.open_or_attach(
            key,
            title=_title(alert.name, summary) if summary else alert.summary(),
            severity=triage.level,
            service=alert.labels.get("service"),
            runbook=name,
            data={"alert": ctx, "payload_id": alert.payload_id, "triage": triage.reason},
            event=(EventKind.ALERT_FIRING, f"alert firing: {alert.summary()}"),
        )
        incident = opened.incident
        if not opened.created:
            relaunch = rb is not None and self._relaunch_if_lost(incident, rb.name, key, alert, ctx)
            action: RouteAction = "relaunched" if relaunch else "attached"
            return Routed(
                alert.fingerprint, alert.status.value, action, incident.id, name, launch_queued=relaunch
            )
        if rb is None:
            self.store.append(
                incident.number,
                EventKind.TRIAGED,
                f"no runbook matches these labels; severity {triage.level.value} by {triage.reason}",
                data={"labels": alert.labels},
            )
            return Routed(alert.fingerprint, alert.status.value, "opened", incident.id, None)
        if alert.payload_id is None:
            raise ValueError("an alert is routed only after its raw payload is in the ledger")
        queued = self.store.queue_launch(
            launch_key(rb.name, key, alert),
            payload_id=alert.payload_id,
            incident=incident.number,
            runbook=rb.name,
            dedup_key=key,
            alert=ctx,
            priority=triage.level.rank,
        )
        if not queued:
            self.store.append(
                incident.number,
                EventKind.RUNBOOK_NOT_LAUNCHED,
                f"{rb.name} was already launched for this alert (same start time)",
            )
        return Routed(
            alert.fingerprint, alert.status.value, "opened", incident.id, name, launch_queued=queued
        )

    def _relaunch_if_lost(
        self, incident: Incident, runbook: str, key: str, alert: Alert, ctx: dict[str, object]
    ) -> bool:
        """A re-fired alert on an incident whose run is gone starts a new attempt instead of attaching."""
        number = incident.number
        latest = RunLedger(self.store).latest_of(number)
        if latest is None or latest.state is not AttemptState.LOST:
            return False  # running, waiting, finished by its own hand, or its launch still pending
        if alert.payload_id is None:
            raise ValueError("an alert is routed only after its raw payload is in the ledger")
        queued = self.store.queue_launch(
            f"{launch_key(runbook, key, alert)}-after-{latest.id}",
            payload_id=alert.payload_id,
            incident=number,
            runbook=runbook,
            dedup_key=key,
            alert=dict(ctx),
            priority=incident.severity.rank,
        )
        if queued:
            self.store.append(
                number,
                EventKind.RUNBOOK_RELAUNCHING,
                f"the alert fired again and the incident's run is gone ({latest.outcome}); "
                f"launching {runbook} again",
                data={"lost_flow_run_id": latest.flow_run_id, "attempt": latest.attempt},
            )
        return queued


def _title(name: str, summary: str) -> str:
    """``name: summary``, unless the summary already says the name (PagerDuty sends its title as both)."""
    return summary if name.strip().lower() in summary.lower() else f"{name}: {summary}"
