"""Slack's Web API as Warroom calls it: Slack's own SDK (`slack_sdk.WebClient`) with its rate-limit retry
handler, the bot token from settings, and every refusal worded as Slack words it, never with the token.
The page notifier and the incident's room both call Slack through here."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

from warroom.redact import redact_text, register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config

# What the incident's room needs of a bot token (pages need only chat:write).
ROOM_SCOPES = ("channels:manage", "channels:read", "chat:write", "pins:write")


class SlackSettings(IntegrationSettings):
    """Slack (pages as direct messages, the incident's room)"""

    model_config = integration_config("slack")

    url: str = Field(default="https://slack.com/api", description="Slack Web API base URL")
    token: SecretStr | None = Field(
        default=None,
        description="Slack bot token: chat:write for pages; channels:manage, channels:read, chat:write and "
        "pins:write for the incident's room",
    )
    retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a call Slack rate-limited (429, after its Retry-After)",
    )


class SlackError(RuntimeError):
    """Slack refused or could not be reached: ``error`` is Slack's own word (``name_taken``, ``ratelimited``,
    ``invalid_auth``) or ``unreachable``; the message never holds the token."""

    def __init__(self, method: str, error: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"slack {method}: {error}" + (f" ({detail})" if detail else ""))
        self.method, self.error, self.retry_after = method, error, retry_after


def web_client(settings: Settings, *, timeout: int = 10, patient: bool = True) -> WebClient:
    """A client for the configured workspace; SlackError when no token is set. ``patient=False``: a call
    Slack rate-limits fails at once (``ratelimited``, with its ``retry_after``) instead of waiting it out,
    for a caller with other work to get on with."""
    slack = settings.of(SlackSettings)
    if slack.token is None:
        raise SlackError("auth", "not_configured", "set WARROOM_SLACK_TOKEN (a bot token)")
    token = slack.token.get_secret_value()
    register_secret(token)
    return _client(slack.url.rstrip("/") + "/", token, slack.retries if patient else 0, timeout)


@lru_cache(maxsize=8)
def _client(base_url: str, token: str, retries: int, timeout: int) -> WebClient:
    # One per workspace and token: a keeper pass calls Slack several times a room, and each new client
    # loads the CA bundle again (tens of milliseconds of CPU). slack_sdk's WebClient is safe to share.
    handlers: list[RetryHandler] = [ConnectionErrorRetryHandler(max_retry_count=1)]
    if retries:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=retries))
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


def call(client: WebClient, method: str, **args: object) -> dict[str, object]:
    """One Web API method; its answer's data, or SlackError in Slack's words."""
    return _call(client, method, args)[0]


def who_am_i(client: WebClient) -> tuple[dict[str, object], set[str]]:
    """``auth.test``: the bot's workspace and user, and the scopes its token was granted."""
    data, headers = _call(client, "auth.test", {})
    scopes = headers.get("x-oauth-scopes") or headers.get("X-OAuth-Scopes") or ""
    if isinstance(scopes, list):
        scopes = ",".join(scopes)
    return data, {s.strip() for s in str(scopes).split(",") if s.strip()}


def _call(
    client: WebClient, method: str, args: dict[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    try:
        response = (
            client.api_call(method, json=args) if _json(method) else client.api_call(method, params=args)
        )
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        wait = str(
            (exc.response.headers or {}).get("Retry-After")
            or (exc.response.headers or {}).get("retry-after")
            or ""
        )
        retry_after = float(wait) if wait.replace(".", "", 1).isdigit() else None
        if exc.response.status_code == 429 and retry_after is None:
            retry_after = 1.0
        raise SlackError(
            method, str(data.get("error") or exc.response.status_code), retry_after=retry_after
        ) from None
    except (SlackClientError, OSError) as exc:
        raise SlackError(method, "unreachable", redact_text(str(exc))[:200]) from None
    data = dict(response.data) if isinstance(response.data, dict) else {}
    return data, dict(response.headers or {})


def _json(method: str) -> bool:
    # As slack_sdk itself sends them: messages (blocks) as JSON, everything else as a form.
    return method.startswith(("chat.", "views."))
