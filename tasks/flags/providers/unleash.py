"""Unleash, through its admin API: a feature's state and strategies per environment, switched off or on
in one environment (its strategies are kept, so on again is exactly as it was)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr

from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef, request
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class UnleashSettings(IntegrationSettings):
    """Unleash flags (the `unleash` provider, admin API)"""

    model_config = integration_config("unleash")

    url: str | None = Field(default=None, description="Unleash server base URL")
    token: SecretStr | None = Field(default=None, description="Unleash admin API token")


class Unleash(FlagProvider):
    name = "unleash"

    def _client(self, settings: Settings) -> httpx.Client:
        unleash = settings.of(UnleashSettings)
        if not unleash.url or unleash.token is None:
            raise FlagError("Unleash is not configured: set WARROOM_UNLEASH_URL and WARROOM_UNLEASH_TOKEN")
        return httpx.Client(
            base_url=unleash.url.rstrip("/"),
            headers={"Authorization": unleash.token.get_secret_value()},
            timeout=10,
            verify=tls_context(),
        )

    def _feature(self, ref: FlagRef) -> str:
        return f"/api/admin/projects/{ref.project or 'default'}/features/{ref.flag}"

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        with self._client(settings) as client:
            what = f"reading Unleash feature {ref.flag!r} in project {ref.project or 'default'!r}"
            feature = request(client, "GET", self._feature(ref), what=what).json()
            env = _environment(feature, ref)
            last, who = _last_event(client, ref)
        strategies = [str(s.get("name")) for s in env.get("strategies") or []]
        return FlagReading(bool(env.get("enabled")), strategies, last, who)

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        with self._client(settings) as client:
            feature = request(
                client, "GET", self._feature(ref), what=f"reading Unleash feature {ref.flag!r}"
            ).json()
            _environment(feature, ref)  # an unknown environment is refused before anything is sent
            switch = "on" if enabled else "off"
            request(
                client,
                "POST",
                f"{self._feature(ref)}/environments/{ref.environment}/{switch}",
                what=f"turning Unleash feature {ref.flag!r} {switch} in {ref.environment!r}",
            )


def _environment(feature: dict[str, Any], ref: FlagRef) -> dict[str, Any]:
    envs = feature.get("environments") or []
    for env in envs:
        if env.get("name") == ref.environment:
            return dict(env)
    known = ", ".join(str(e.get("name")) for e in envs) or "none"
    raise FlagError(f"Unleash feature {ref.flag!r} has no environment {ref.environment!r} (it has: {known})")


def _last_event(client: httpx.Client, ref: FlagRef) -> tuple[datetime | None, str | None]:
    """The feature's latest event in this environment (who changed what, when); best effort."""
    try:
        events = request(client, "GET", f"/api/admin/events/{ref.flag}", what="events", attempts=1).json()
    except FlagError:
        return None, None
    for event in (events.get("events") or []) if isinstance(events, dict) else []:
        if event.get("environment") in (ref.environment, None) and event.get("createdAt"):
            at = datetime.fromisoformat(str(event["createdAt"]).replace("Z", "+00:00"))
            return at, str(event.get("createdBy") or "") or None
    return None, None


PROVIDER = Unleash()
