"""A page as a Slack direct message (chat.postMessage to the person's user id) with an Acknowledge button;
the button's press comes back to the receiver's /slack/actions, signed with the app's signing secret."""

from __future__ import annotations

import httpx
from pydantic import Field, SecretStr

from tasks.notifiers.base import Notice, Notifier, NotifyError
from warroom.redact import redact_text, register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config


class SlackSettings(IntegrationSettings):
    """Slack pages (the `slack` notifier)"""

    model_config = integration_config("slack")

    url: str = Field(default="https://slack.com/api", description="Slack Web API base URL")
    token: SecretStr | None = Field(default=None, description="Slack bot token (chat:write)")


ACK_ACTION = "warroom_ack"


def blocks(notice: Notice) -> list[dict[str, object]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": notice.text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACK_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": f"Acknowledge {notice.incident}"},
                    "value": notice.incident,
                }
            ],
        },
    ]


class Slack(Notifier):
    name = "slack"

    def send(self, notice: Notice, settings: Settings) -> str:
        slack = settings.of(SlackSettings)
        if slack.token is not None:
            register_secret(slack.token.get_secret_value())
        if slack.token is None:
            raise NotifyError("slack: set WARROOM_SLACK_TOKEN (a bot token with chat:write)")
        if not notice.slack_user:
            raise NotifyError(f"slack: the schedule gives {notice.person or 'nobody'} no slack user id")
        try:
            response = httpx.post(
                f"{slack.url.rstrip('/')}/chat.postMessage",
                json={"channel": notice.slack_user, "text": notice.text, "blocks": blocks(notice)},
                headers={"Authorization": f"Bearer {slack.token.get_secret_value()}"},
                timeout=10,
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise NotifyError(f"slack: cannot post: {redact_text(str(exc))[:200]}") from None
        if response.status_code >= 300 or not body.get("ok"):
            raise NotifyError(f"slack: {response.status_code} {body.get('error', 'not ok')}")
        return f"message {body.get('ts', '?')} in {body.get('channel', notice.slack_user)}"


NOTIFIER = Slack()
