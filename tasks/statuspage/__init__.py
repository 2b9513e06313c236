"""Vendors' status pages a post is also published to, beside Warroom's own page: one module per vendor in
this package, each a ``PROVIDER``."""

from __future__ import annotations

from tasks.statuspage.base import PublicUpdate, StatusPageError, StatusPageProvider
from warroom.registry import discover
from warroom.settings import Settings
from warroom.status.model import StatusSettings

PROVIDERS: dict[str, StatusPageProvider] = discover(__name__, __path__, "PROVIDER", StatusPageProvider)


def status_provider(settings: Settings) -> StatusPageProvider | None:
    """The vendor's page in settings; None for Warroom's own page only; StatusPageError for a name that is
    not one."""
    name = settings.of(StatusSettings).provider
    if name is None:
        return None
    if name not in PROVIDERS:
        raise StatusPageError(
            f"WARROOM_STATUS_PROVIDER: no status-page provider {name!r} (available: {', '.join(PROVIDERS)})"
        )
    return PROVIDERS[name]


__all__ = ["PROVIDERS", "PublicUpdate", "StatusPageError", "StatusPageProvider", "status_provider"]
