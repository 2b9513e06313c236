"""Feature-flag providers: one module per provider in this package, each with its ``PROVIDER``."""

from __future__ import annotations

from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef
from warroom.registry import discover

PROVIDERS: dict[str, FlagProvider] = discover(__name__, __path__, "PROVIDER", FlagProvider)


def provider(name: str) -> FlagProvider:
    if name not in PROVIDERS:
        raise FlagError(
            f"flag provider {name!r} is not available in this build "
            f"(available: {', '.join(sorted(PROVIDERS))})"
        )
    return PROVIDERS[name]


__all__ = ["PROVIDERS", "FlagError", "FlagProvider", "FlagReading", "FlagRef", "provider"]
