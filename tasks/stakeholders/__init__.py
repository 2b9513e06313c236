"""Where leadership summaries go: one module per channel in this package, each a ``CHANNEL`` that says which
addresses are its own (email over SMTP, Slack channels, any apprise URL)."""

from __future__ import annotations

from tasks.stakeholders.base import Delivery, StakeholderChannel, StakeholderSettings
from warroom.registry import discover
from warroom.settings import Settings

CHANNELS: dict[str, StakeholderChannel] = discover(__name__, __path__, "CHANNEL", StakeholderChannel)


def deliver(addresses: list[str], subject: str, body: str, settings: Settings) -> list[Delivery]:
    """Each address by the channel that takes it; one that none takes fails, saying so."""
    by_channel: dict[str, list[str]] = {}
    out: list[Delivery] = []
    for address in dict.fromkeys(addresses):
        channel = next((c for c in CHANNELS.values() if c.accepts(address)), None)
        if channel is None:
            out.append(Delivery(address, False, "no channel takes this address (email, #channel or a URL)"))
        else:
            by_channel.setdefault(channel.name, []).append(address)
    for name, mine in by_channel.items():
        out += CHANNELS[name].send(mine, subject, body, settings)
    return out


def shown(address: str) -> str:
    """An address as it may be shown: its channel's way (apprise URLs with their secrets elided)."""
    channel = next((c for c in CHANNELS.values() if c.accepts(address)), None)
    return address if channel is None else channel.shown(address)


__all__ = ["CHANNELS", "Delivery", "StakeholderChannel", "StakeholderSettings", "deliver", "shown"]
