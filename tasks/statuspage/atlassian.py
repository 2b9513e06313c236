"""Atlassian Statuspage through its REST API (v1): an incident per public incident, each post an incident
update (``PATCH`` with status and body), the components' statuses set with it. Components are found by name
on the page; the API key is sent as Statuspage asks (``Authorization: OAuth KEY``) and never shown."""

from __future__ import annotations

import threading

import httpx
from pydantic import Field, SecretStr

from tasks.rest import request
from tasks.statuspage.base import PublicUpdate, StatusPageError, StatusPageProvider
from warroom.redact import register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class AtlassianSettings(IntegrationSettings):
    """Atlassian Statuspage (the `atlassian` status-page provider)"""

    model_config = integration_config("statuspage")

    url: str = Field(default="https://api.statuspage.io/v1", description="Statuspage's REST API base URL")
    api_key: SecretStr | None = Field(
        default=None, description="A Statuspage API key (an Incident Manager's)"
    )
    page_id: str | None = Field(default=None, description="The page's id (Your page -> API info)")
    notify_subscribers: bool = Field(
        default=True, description="Let Statuspage tell the page's subscribers of each update"
    )


class AtlassianStatuspage(StatusPageProvider):
    name = "atlassian"

    def __init__(self) -> None:
        self._components: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def _client(self, settings: Settings) -> tuple[httpx.Client, str]:
        own = settings.of(AtlassianSettings)
        if own.api_key is None or not own.page_id:
            raise StatusPageError(
                "atlassian statuspage: set WARROOM_STATUSPAGE_API_KEY and WARROOM_STATUSPAGE_PAGE_ID to "
                "publish there"
            )
        key = own.api_key.get_secret_value()
        register_secret(key)
        client = httpx.Client(
            base_url=own.url.rstrip("/"),
            headers={"Authorization": f"OAuth {key}", "Accept": "application/json"},
            timeout=15,
            verify=tls_context(),
        )
        return client, own.page_id

    def _component_ids(self, client: httpx.Client, page: str, names: list[str]) -> dict[str, str]:
        with self._lock:
            known = self._components.get((str(client.base_url), page))
        if known is None or not set(names) <= set(known):
            listed = request(
                client,
                "GET",
                f"/pages/{page}/components",
                what=f"atlassian statuspage GET components of page {page}",
                error=StatusPageError,
            ).json()
            known = {str(c["name"]): str(c["id"]) for c in listed if not c.get("group")}
            with self._lock:
                self._components[(str(client.base_url), page)] = known
        missing = [n for n in names if n not in known]
        if missing:
            raise StatusPageError(
                f"atlassian statuspage: page {page} has no component named {', '.join(map(repr, missing))} "
                f"(it has: {', '.join(sorted(known)) or 'none'})"
            )
        return {n: known[n] for n in names}

    def check(self, settings: Settings) -> str:
        client, page = self._client(settings)
        with client:
            found = request(
                client,
                "GET",
                f"/pages/{page}",
                what=f"atlassian statuspage GET page {page}",
                error=StatusPageError,
            ).json()
        return f"Statuspage page {found.get('name') or page} ({page})"

    def publish(self, update: PublicUpdate, settings: Settings) -> str:
        client, page = self._client(settings)
        own = settings.of(AtlassianSettings)
        with client:
            ids = self._component_ids(client, page, list(update.components))
            body: dict[str, object] = {
                "status": update.state.value,
                "body": update.text,
                "component_ids": list(ids.values()),
                "components": {ids[n]: s.value for n, s in update.components.items()},
                "deliver_notifications": own.notify_subscribers,
            }
            if update.external_id is None:
                body["name"] = update.title
                made = request(
                    client,
                    "POST",
                    f"/pages/{page}/incidents",
                    what=f"atlassian statuspage POST incident for {update.incident}",
                    error=StatusPageError,
                    json={"incident": body},
                ).json()
                return str(made["id"])
            request(
                client,
                "PATCH",
                f"/pages/{page}/incidents/{update.external_id}",
                what=f"atlassian statuspage PATCH incident {update.external_id} ({update.incident})",
                error=StatusPageError,
                json={"incident": body},
            )
            return update.external_id


PROVIDER = AtlassianStatuspage()
