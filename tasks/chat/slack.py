"""The incident's room in Slack: a public channel per incident (or a thread in the shared channel), its
topic, the people invited, the pinned summary edited in place, the timeline posted as it happens."""

from __future__ import annotations

import time
from typing import Any

from tasks.chat.base import ChatError, ChatProvider, ChatSettings, Room
from tasks.slack_client import ROOM_SCOPES, SlackError, SlackSettings, call, web_client, who_am_i
from warroom.settings import Settings


class Slack(ChatProvider):
    name = "slack"

    def __init__(self) -> None:
        # Each method's rate limit is its own (conversations.create 20 a minute, chat.postMessage one a
        # second per channel): one that Slack limited rests for its Retry-After, and the keeper's pass goes
        # on with the rooms' other work instead of waiting it out.
        self._resting: dict[str, float] = {}

    def _call(self, settings: Settings, method: str, **args: object) -> dict[str, object]:
        workspace = settings.of(SlackSettings).url
        key = f"{workspace} {method}" + (f" {args.get('channel')}" if method == "chat.postMessage" else "")
        until = self._resting.get(key, 0.0)
        if time.monotonic() < until:
            raise ChatError(f"slack {method}: rate-limited, resting", later=until - time.monotonic())
        try:
            return call(web_client(settings, patient=False), method, **args)
        except SlackError as exc:
            if exc.error == "ratelimited" and exc.retry_after is not None:
                self._resting[key] = time.monotonic() + exc.retry_after
            raise ChatError(str(exc), taken=exc.error == "name_taken", later=exc.retry_after) from None

    def check(self, settings: Settings) -> str:
        try:
            who, granted = who_am_i(web_client(settings))
        except SlackError as exc:
            raise ChatError(f"{exc}: the incident rooms need a Slack bot token Slack accepts") from None
        shared = settings.of(ChatSettings).shared_channel
        needed = [s for s in ROOM_SCOPES if not (shared and s == "channels:manage")]
        missing = [s for s in needed if s not in granted]
        if missing:
            raise ChatError(f"slack: the bot token lacks the scope(s) {', '.join(missing)} the rooms need")
        if shared:
            return f"slack: a thread per incident in #{self._shared_name(shared, settings)}"
        return f"slack: a channel per incident in {who.get('team') or 'the workspace'}"

    def _shared_name(self, shared: str, settings: Settings) -> str:
        found = self._call(settings, "conversations.info", channel=shared)
        channel = found.get("channel")
        return str(channel.get("name", shared)) if isinstance(channel, dict) else shared

    def open_room(self, name: str, opening: str, settings: Settings) -> Room:
        shared = settings.of(ChatSettings).shared_channel
        if shared:
            posted = self._call(settings, "chat.postMessage", channel=shared, text=opening)
            return Room(shared, self._shared_name(shared, settings), thread=str(posted["ts"]))
        made = self._call(settings, "conversations.create", name=name, is_private=False)
        channel = made.get("channel")
        if not isinstance(channel, dict) or "id" not in channel:
            raise ChatError("slack conversations.create: no channel in Slack's answer")
        room = Room(str(channel["id"]), str(channel.get("name", name)))
        try:
            self.post(room, opening, settings)
        except ChatError:
            pass  # the channel exists now: losing it over its greeting would make a second one next pass
        return room

    def set_topic(self, room: Room, topic: str, settings: Settings) -> None:
        if room.thread is None:  # a shared channel's topic is the team's, not one incident's
            self._call(settings, "conversations.setTopic", channel=room.channel, topic=topic)

    def invite(self, room: Room, users: list[str], settings: Settings) -> None:
        if room.thread is not None or not users:
            return  # a thread has no members of its own: people see it in the shared channel
        try:
            self._call(settings, "conversations.invite", channel=room.channel, users=",".join(users))
        except ChatError as exc:
            if "already_in_channel" not in str(exc):
                raise

    def post(self, room: Room, text: str, settings: Settings) -> str:
        args: dict[str, object] = {"channel": room.channel, "text": text, "unfurl_links": False}
        if room.thread:
            args["thread_ts"] = room.thread
        return str(self._call(settings, "chat.postMessage", **args)["ts"])

    def edit(
        self,
        room: Room,
        message: str,
        text: str,
        settings: Settings,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        args: dict[str, object] = {"channel": room.channel, "ts": message, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        self._call(settings, "chat.update", **args)

    def ask(self, room: Room, text: str, blocks: list[dict[str, Any]], settings: Settings) -> str:
        args: dict[str, object] = {
            "channel": room.channel,
            "text": text,
            "blocks": blocks,
            "unfurl_links": False,
        }
        if room.thread:
            args["thread_ts"] = room.thread
        return str(self._call(settings, "chat.postMessage", **args)["ts"])

    def open_form(self, trigger: str, view: dict[str, Any], settings: Settings) -> None:
        self._call(settings, "views.open", trigger_id=trigger, view=view)

    def tell_person(self, channel: str, user: str, text: str, settings: Settings) -> None:
        self._call(settings, "chat.postEphemeral", channel=channel, user=user, text=text)

    def pin(self, room: Room, message: str, settings: Settings) -> None:
        try:
            self._call(settings, "pins.add", channel=room.channel, timestamp=message)
        except ChatError as exc:
            if "already_pinned" not in str(exc):
                raise


PROVIDER = Slack()
