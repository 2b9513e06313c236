"""Any service apprise reaches, by its URL (``msteams://...``, ``discord://...``, ``ntfys://...``,
``mmosts://...``): apprise's own plugin sends, and its log says why one failed."""

from __future__ import annotations

import logging

from tasks.stakeholders.base import Delivery, StakeholderChannel
from warroom.redact import redact_text
from warroom.settings import Settings


def private(url: str) -> str:
    """The URL as it may be shown (the timeline, the terminal): apprise's own privacy form, its tokens and
    passwords elided; only the scheme when apprise cannot read it."""
    import apprise

    found = apprise.Apprise.instantiate(url)
    if found is None:
        return url.split("://", 1)[0] + "://..."
    return str(found.url(privacy=True)).split("?", 1)[0]


def notify(url: str, addresses: list[str], subject: str, body: str) -> list[Delivery]:
    """One apprise URL; every address it stands for delivered, or failed with apprise's words."""
    import apprise  # ~100 plugins: loaded when a summary goes out, not with every command

    sender = apprise.Apprise()
    if not sender.add(url):
        return [
            Delivery(a, False, "apprise cannot read this address (see apprise's URL formats)")
            for a in addresses
        ]
    with apprise.LogCapture(level=logging.WARNING) as log:
        ok = sender.notify(title=subject, body=body, body_format=apprise.NotifyFormat.MARKDOWN)
        said = log.getvalue() if not isinstance(log, bool) else ""
    if ok:
        return [Delivery(a, True) for a in addresses]
    lines = [line.split(" - ", 2)[-1] for line in said.splitlines() if line.strip()]
    why = redact_text("; ".join(lines[-3:]) or "apprise could not deliver it")[:300]
    return [Delivery(a, False, why) for a in addresses]


class AppriseUrl(StakeholderChannel):
    name = "apprise"

    def accepts(self, address: str) -> bool:
        return "://" in address

    def send(self, addresses: list[str], subject: str, body: str, settings: Settings) -> list[Delivery]:
        out: list[Delivery] = []
        for address in addresses:
            out += notify(address, [private(address)], subject, body)
        return out

    def shown(self, address: str) -> str:
        return private(address)


CHANNEL = AppriseUrl()
