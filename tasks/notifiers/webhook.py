"""A page as a JSON POST to one URL (an in-house pager, a chat bridge), signed with HMAC-SHA256 in
``X-Warroom-Signature: sha256=…`` when a secret is set, as Warroom's own receiver checks senders."""

from __future__ import annotations

import json
from dataclasses import asdict

import httpx
from pydantic import Field, SecretStr

from tasks.notifiers.base import Notice, Notifier, NotifyError
from warroom.intake.auth import hmac_hex
from warroom.redact import redact_text, register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class PageWebhookSettings(IntegrationSettings):
    """Pages as a signed webhook (the `webhook` notifier)"""

    model_config = integration_config("page_webhook")

    url: str | None = Field(default=None, description="Where the webhook notifier POSTs a page (JSON)")
    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of its X-Warroom-Signature: sha256=<hex>"
    )


class Webhook(Notifier):
    name = "webhook"

    def send(self, notice: Notice, settings: Settings) -> str:
        hook = settings.of(PageWebhookSettings)
        if hook.secret is not None:
            register_secret(hook.secret.get_secret_value())
        if not hook.url:
            raise NotifyError("webhook: set WARROOM_PAGE_WEBHOOK_URL")
        body = json.dumps(
            {"type": "page", **asdict(notice), "text": notice.text, "ack": notice.ack_command}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if hook.secret is not None:
            headers["X-Warroom-Signature"] = f"sha256={hmac_hex(hook.secret.get_secret_value(), body)}"
        try:
            response = httpx.post(hook.url, content=body, headers=headers, timeout=10, verify=tls_context())
        except httpx.HTTPError as exc:
            raise NotifyError(f"webhook: cannot reach it: {redact_text(str(exc))[:200]}") from None
        if response.status_code >= 300:
            raise NotifyError(f"webhook: {response.status_code} {redact_text(response.text.strip())[:200]}")
        return f"HTTP {response.status_code}"


NOTIFIER = Webhook()
