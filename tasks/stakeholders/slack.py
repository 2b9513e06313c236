"""A Slack channel (``#leadership``, or a channel id), through the Slack app the rooms use (slack_sdk)."""

from __future__ import annotations

from tasks.slack_client import SlackError, call, web_client
from tasks.stakeholders.base import Delivery, StakeholderChannel
from warroom.settings import Settings


def _mrkdwn(body: str) -> str:
    return body.replace("**", "*")  # Slack's bold is one asterisk


class SlackChannel(StakeholderChannel):
    name = "slack"

    def accepts(self, address: str) -> bool:
        return address.startswith("#") or address.startswith("slack:")

    def send(self, addresses: list[str], subject: str, body: str, settings: Settings) -> list[Delivery]:
        try:
            client = web_client(settings)
        except SlackError as exc:
            return [Delivery(a, False, str(exc)) for a in addresses]
        out = []
        for address in addresses:
            channel = address.removeprefix("slack:")
            try:
                call(client, "chat.postMessage", channel=channel, text=f"*{subject}*\n\n{_mrkdwn(body)}")
                out.append(Delivery(address, True))
            except SlackError as exc:
                out.append(Delivery(address, False, str(exc)))
        return out


CHANNEL = SlackChannel()
