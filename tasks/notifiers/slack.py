"""A page as a Slack direct message (chat.postMessage to the person's user id) with an Acknowledge button;
the button's press comes back to the receiver's /slack/actions, signed with the app's signing secret."""

from __future__ import annotations

from tasks.notifiers.base import Notice, Notifier, NotifyError
from tasks.slack_client import SlackError, call, web_client
from warroom.settings import Settings

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
        try:
            client = web_client(settings)
        except SlackError:
            raise NotifyError("slack: set WARROOM_SLACK_TOKEN (a bot token with chat:write)") from None
        if not notice.slack_user:
            raise NotifyError(f"slack: the schedule gives {notice.person or 'nobody'} no slack user id")
        try:
            body = call(
                client, "chat.postMessage", channel=notice.slack_user, text=notice.text, blocks=blocks(notice)
            )
        except SlackError as exc:
            raise NotifyError(f"slack: cannot post: {exc}") from None
        return f"message {body.get('ts', '?')} in {body.get('channel', notice.slack_user)}"


NOTIFIER = Slack()
