"""Chat services that hold the incident's room: one module per service in this package, each a
``PROVIDER``."""

from __future__ import annotations

from tasks.chat.base import ChatError, ChatProvider, ChatSettings, Room
from warroom.registry import discover
from warroom.settings import Settings

PROVIDERS: dict[str, ChatProvider] = discover(__name__, __path__, "PROVIDER", ChatProvider)


def chat_provider(settings: Settings) -> ChatProvider | None:
    """The configured provider; None when rooms are off; ChatError for a name that is not one."""
    name = settings.of(ChatSettings).provider
    if name is None:
        return None
    if name not in PROVIDERS:
        raise ChatError(
            f"WARROOM_CHAT_PROVIDER: no chat provider {name!r} (available: {', '.join(PROVIDERS)})"
        )
    return PROVIDERS[name]


__all__ = ["PROVIDERS", "ChatError", "ChatProvider", "ChatSettings", "Room", "chat_provider"]
