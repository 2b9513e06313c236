"""Email over SMTP, sent by apprise's email plugin (plain text and HTML from the Markdown, one message per
recipient, STARTTLS, TLS or none). The password is registered for masking and never shown."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import Field, SecretStr

from tasks.stakeholders.apprise_url import notify
from tasks.stakeholders.base import Delivery, StakeholderChannel
from warroom.redact import register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config


class SmtpSettings(IntegrationSettings):
    """Email to stakeholders (SMTP)"""

    model_config = integration_config("smtp")

    host: str | None = Field(default=None, description="The SMTP server; unset, no email is sent")
    port: int = Field(default=587, description="Its port")
    security: Literal["starttls", "ssl", "insecure"] = Field(
        default="starttls", description="STARTTLS, TLS from the start, or none (a relay on loopback)"
    )
    username: str | None = Field(default=None, description="SMTP login, when the server asks for one")
    password: SecretStr | None = Field(default=None, description="SMTP password")
    sender: str = Field(default="warroom@localhost", description="The From address")


class Email(StakeholderChannel):
    name = "email"

    def accepts(self, address: str) -> bool:
        return "@" in address and "://" not in address and not address.startswith(("#", "@"))

    def url(self, smtp: SmtpSettings, to: list[str]) -> str:
        login = ""
        if smtp.username:
            login = quote(smtp.username, safe="")
            if smtp.password is not None:
                secret = smtp.password.get_secret_value()
                register_secret(secret)
                login += ":" + quote(secret, safe="")
            login += "@"
        query = urlencode(
            {"mode": smtp.security, "from": smtp.sender, "to": ",".join(to), "smtp": smtp.host or ""}
        )
        scheme = "mailtos" if smtp.security != "insecure" else "mailto"
        return f"{scheme}://{login}{smtp.host}:{smtp.port}?{query}"

    def send(self, addresses: list[str], subject: str, body: str, settings: Settings) -> list[Delivery]:
        smtp = settings.of(SmtpSettings)
        if not smtp.host:
            why = "no SMTP server: set WARROOM_SMTP_HOST"
            return [Delivery(a, False, why) for a in addresses]
        return notify(self.url(smtp, addresses), addresses, subject, body)


CHANNEL = Email()
