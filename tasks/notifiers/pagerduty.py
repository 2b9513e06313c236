"""A page handed to PagerDuty (Events API v2) for teams that page there: one alert per incident (the
dedup key is the incident), triggered at the first step; Warroom keeps its own record and escalation."""

from __future__ import annotations

import httpx
from pydantic import Field, SecretStr

from tasks.notifiers.base import Notice, Notifier, NotifyError
from warroom.redact import redact_text, register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class PagerDutySettings(IntegrationSettings):
    """Pages handed to PagerDuty (the `pagerduty` notifier, Events API v2)"""

    model_config = integration_config("pagerduty")

    events_url: str = Field(default="https://events.pagerduty.com", description="Events API v2 base URL")
    routing_key: SecretStr | None = Field(
        default=None, description="Integration key of the PagerDuty service that pages for Warroom"
    )


SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


class PagerDuty(Notifier):
    name = "pagerduty"

    def send(self, notice: Notice, settings: Settings) -> str:
        pd = settings.of(PagerDutySettings)
        if pd.routing_key is not None:
            register_secret(pd.routing_key.get_secret_value())
        if pd.routing_key is None:
            raise NotifyError("pagerduty: set WARROOM_PAGERDUTY_ROUTING_KEY (the service's integration key)")
        event = {
            "routing_key": pd.routing_key.get_secret_value(),
            "event_action": "trigger",
            "dedup_key": f"warroom-{notice.incident}",
            "payload": {
                "summary": f"[{notice.severity}] {notice.incident} {notice.title}"[:1024],
                "source": "warroom",
                "severity": SEVERITY.get(notice.severity, "error"),
                "custom_details": {"paged": notice.person, "as": notice.target, "ack": notice.ack_command},
            },
        }
        try:
            response = httpx.post(
                f"{pd.events_url.rstrip('/')}/v2/enqueue", json=event, timeout=10, verify=tls_context()
            )
        except httpx.HTTPError as exc:
            raise NotifyError(f"pagerduty: cannot reach Events API: {redact_text(str(exc))[:200]}") from None
        if response.status_code != 202:
            raise NotifyError(f"pagerduty: {response.status_code} {redact_text(response.text.strip())[:200]}")
        return f"dedup key {response.json().get('dedup_key', event['dedup_key'])}"


NOTIFIER = PagerDuty()
