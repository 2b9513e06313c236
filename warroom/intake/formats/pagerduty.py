"""PagerDuty's v3 webhooks: incident events, signed with the subscription's secret when one is set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from warroom.intake import auth
from warroom.intake.alert import Alert, AlertStatus
from warroom.intake.formats.base import AlertFormat, validate
from warroom.settings import IntegrationSettings, Settings, integration_config


class PagerDutyWebhookSettings(IntegrationSettings):
    """PagerDuty webhooks in (the `pagerduty` format)"""

    model_config = integration_config("pagerduty_webhook")

    secrets: list[SecretStr] = Field(
        default_factory=list, description="PagerDuty v3 webhook signing secrets (X-PagerDuty-Signature)"
    )


PAGERDUTY_FIRING = {
    "incident.triggered",
    "incident.reopened",
    "incident.escalated",
    "incident.priority_updated",
}
PAGERDUTY_RESOLVED = {"incident.resolved"}


class _PdService(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    summary: str | None = None


class _PdIncident(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str = "incident"
    title: str
    status: str | None = None
    number: int | None = None
    html_url: str | None = None
    incident_key: str | None = None
    created_at: datetime | None = None
    urgency: str | None = None
    service: _PdService | None = None
    priority: dict[str, Any] | None = None


class _PdEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    event_type: str
    resource_type: str
    occurred_at: datetime
    data: _PdIncident


class _PdWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: _PdEvent


def parse_pagerduty(data: Any) -> list[Alert]:
    """incident.triggered (reopened, escalated) fire; incident.resolved resolves; other events: kept only."""
    event = validate(_PdWebhook, data).event
    if event.resource_type != "incident":
        return []
    if event.event_type in PAGERDUTY_FIRING:
        status = AlertStatus.FIRING
    elif event.event_type in PAGERDUTY_RESOLVED:
        status = AlertStatus.RESOLVED
    else:
        return []
    inc = event.data
    labels = {"alertname": inc.title, "pagerduty_incident": inc.id}
    if inc.service is not None and inc.service.summary:
        labels["service"] = inc.service.summary
    if inc.urgency:
        labels["urgency"] = inc.urgency
        labels["severity"] = "critical" if inc.urgency == "high" else "warning"
    if inc.priority and inc.priority.get("summary"):
        labels["priority"] = str(inc.priority["summary"])
    return [
        Alert(
            source="pagerduty",
            status=status,
            labels=labels,
            annotations={"summary": inc.title},
            starts_at=inc.created_at or event.occurred_at,
            ends_at=event.occurred_at if status is AlertStatus.RESOLVED else None,
            fingerprint=inc.incident_key or inc.id,
            generator_url=inc.html_url,
            extra={"event_id": event.id, "event_type": event.event_type, "number": inc.number},
        )
    ]


class PagerDuty(AlertFormat):
    name = "pagerduty"
    title = "PagerDuty (v3 webhooks)"

    def authenticate(self, headers: Mapping[str, str], body: bytes, settings: Settings) -> None:
        """PagerDuty signs each delivery (``X-PagerDuty-Signature: v1=<hex>``) with the webhook
        subscription's secret; with no secret configured, the receiver's own token or HMAC applies."""
        pd = settings.of(PagerDutyWebhookSettings)
        secrets = [s.get_secret_value() for s in pd.secrets]
        if not secrets:
            return super().authenticate(headers, body, settings)
        presented = [
            p.strip()[3:]
            for p in headers.get("x-pagerduty-signature", "").split(",")
            if p.strip().startswith("v1=")
        ]
        if not any(auth.hmac_ok(secret, body, p) for secret in secrets for p in presented):
            raise auth.Unauthorized("X-PagerDuty-Signature missing or wrong")

    def credentials(self, body: bytes, settings: Settings) -> dict[str, str]:
        pd = settings.of(PagerDutyWebhookSettings)
        if not pd.secrets:
            return super().credentials(body, settings)
        secret = pd.secrets[0].get_secret_value()
        return {"X-PagerDuty-Signature": f"v1={auth.hmac_hex(secret, body)}"}

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        return parse_pagerduty(data)


FORMAT = PagerDuty()
