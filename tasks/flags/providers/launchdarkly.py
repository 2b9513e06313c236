"""LaunchDarkly, through REST API v2: a flag's targeting state in one environment, switched with the
semantic patch instructions ``turnFlagOff`` / ``turnFlagOn`` (nothing else about the flag changes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr

from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef, request
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class LaunchDarklySettings(IntegrationSettings):
    """LaunchDarkly flags (the `launchdarkly` provider)"""

    model_config = integration_config("launchdarkly")

    url: str = Field(default="https://app.launchdarkly.com", description="LaunchDarkly API base URL")
    token: SecretStr | None = Field(
        default=None, description="LaunchDarkly API access token (writer role, to turn flags off)"
    )


SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"


class LaunchDarkly(FlagProvider):
    name = "launchdarkly"

    def _client(self, settings: Settings) -> httpx.Client:
        ld = settings.of(LaunchDarklySettings)
        if ld.token is None:
            raise FlagError("LaunchDarkly is not configured: set WARROOM_LAUNCHDARKLY_TOKEN")
        return httpx.Client(
            base_url=ld.url.rstrip("/"),
            headers={"Authorization": ld.token.get_secret_value()},
            timeout=10,
            verify=tls_context(),
        )

    def _path(self, ref: FlagRef) -> str:
        return f"/api/v2/flags/{ref.project or 'default'}/{ref.flag}"

    def _flag(self, client: httpx.Client, ref: FlagRef) -> dict[str, Any]:
        what = f"reading LaunchDarkly flag {ref.flag!r} in project {ref.project or 'default'!r}"
        flag = request(client, "GET", self._path(ref), what=what, params={"env": ref.environment}).json()
        env = (flag.get("environments") or {}).get(ref.environment)
        if env is None:
            raise FlagError(f"LaunchDarkly flag {ref.flag!r} has no environment {ref.environment!r}")
        return dict(flag)

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        with self._client(settings) as client:
            flag = self._flag(client, ref)
        env = flag["environments"][ref.environment]
        modified = env.get("_lastModified")
        last = datetime.fromtimestamp(modified / 1000, UTC) if isinstance(modified, int | float) else None
        variations = [str(v.get("name") or v.get("value")) for v in flag.get("variations") or []]
        return FlagReading(bool(env.get("on")), variations, last, None)

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        with self._client(settings) as client:
            self._flag(client, ref)
            request(
                client,
                "PATCH",
                self._path(ref),
                what=f"turning LaunchDarkly flag {ref.flag!r} {_switch(enabled)} in {ref.environment!r}",
                headers={"Content-Type": SEMANTIC_PATCH},
                json={
                    "environmentKey": ref.environment,
                    "instructions": [{"kind": "turnFlagOn" if enabled else "turnFlagOff"}],
                    "comment": comment,
                },
            )


def _switch(enabled: bool) -> str:
    return "on" if enabled else "off"


PROVIDER = LaunchDarkly()
