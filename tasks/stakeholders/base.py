"""How a leadership summary reaches an audience: each channel takes the addresses it knows (an email
address, a Slack channel, a notification URL) and says per address whether it got there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from warroom.settings import IntegrationSettings, Settings, integration_config


class StakeholderSettings(IntegrationSettings):
    """Stakeholder updates (who each audience is)"""

    model_config = integration_config("stakeholders")

    audiences: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Who each audience a severity names is: email addresses, Slack channels and notification "
        'URLs, e.g. `{"c-level": ["cto@example.com", "#leadership"], "all-hands": ["all@example.com"]}`',
    )


@dataclass(frozen=True)
class Delivery:
    address: str
    ok: bool
    error: str | None = None


class StakeholderChannel:
    name: ClassVar[str]

    def accepts(self, address: str) -> bool:
        """Is ``address`` one of this channel's?"""
        raise NotImplementedError

    def send(self, addresses: list[str], subject: str, body: str, settings: Settings) -> list[Delivery]:
        """Send the summary (``body`` is Markdown) to each address; one delivery each (its address as
        ``shown`` gives it), never raising for one that failed."""
        raise NotImplementedError

    def shown(self, address: str) -> str:
        """The address as the timeline and the terminal may show it (a webhook URL's token elided)."""
        return address
