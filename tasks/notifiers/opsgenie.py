"""A page handed to Opsgenie (Alert API v2) for teams that page there: one alert per incident (its alias is
the incident), created at the first step and addressed to the paged person; Warroom keeps its own record
and escalation."""

from __future__ import annotations

import httpx
from pydantic import Field, SecretStr

from tasks.notifiers.base import Notice, Notifier, NotifyError
from warroom.redact import redact_text, register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class OpsgenieSettings(IntegrationSettings):
    """Pages handed to Opsgenie (the `opsgenie` notifier, Alert API v2)"""

    model_config = integration_config("opsgenie")

    url: str = Field(default="https://api.opsgenie.com", description="Opsgenie API base URL (EU: api.eu)")
    api_key: SecretStr | None = Field(default=None, description="Opsgenie API integration key")


PRIORITY = {"P1": "P1", "P2": "P2", "P3": "P3", "P4": "P4"}


class Opsgenie(Notifier):
    name = "opsgenie"

    def send(self, notice: Notice, settings: Settings) -> str:
        genie = settings.of(OpsgenieSettings)
        if genie.api_key is None:
            raise NotifyError("opsgenie: set WARROOM_OPSGENIE_API_KEY (an API integration key)")
        key = genie.api_key.get_secret_value()
        register_secret(key)
        alert = {
            "message": f"[{notice.severity}] {notice.incident} {notice.title}"[:130],
            "alias": f"warroom-{notice.incident}",
            "description": notice.text[:15000],
            "priority": PRIORITY.get(notice.severity, "P3"),
            "source": "warroom",
            "details": {"paged": notice.person or "", "as": notice.target, "ack": notice.ack_command},
            **({"responders": [{"type": "user", "username": notice.email}]} if notice.email else {}),
        }
        try:
            response = httpx.post(
                f"{genie.url.rstrip('/')}/v2/alerts",
                json=alert,
                headers={"Authorization": f"GenieKey {key}"},
                timeout=10,
                verify=tls_context(),
            )
        except httpx.HTTPError as exc:
            raise NotifyError(
                f"opsgenie: cannot reach the Alert API: {redact_text(str(exc))[:200]}"
            ) from None
        if response.status_code != 202:
            raise NotifyError(f"opsgenie: {response.status_code} {redact_text(response.text.strip())[:200]}")
        return f"request {response.json().get('requestId', '?')}"


NOTIFIER = Opsgenie()
