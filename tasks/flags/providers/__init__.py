"""Feature-flag providers: one module per provider in this package, each with its ``PROVIDER``."""

from __future__ import annotations

import importlib
import pkgutil

from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef


def _discover() -> dict[str, FlagProvider]:
    found: dict[str, FlagProvider] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base"):
        provider = importlib.import_module(f"{__name__}.{module}").PROVIDER
        found[provider.name] = provider
    return found


PROVIDERS: dict[str, FlagProvider] = _discover()


def provider(name: str) -> FlagProvider:
    if name not in PROVIDERS:
        raise FlagError(
            f"flag provider {name!r} is not available in this build "
            f"(available: {', '.join(sorted(PROVIDERS))})"
        )
    return PROVIDERS[name]


__all__ = ["PROVIDERS", "FlagError", "FlagProvider", "FlagReading", "FlagRef", "provider"]
