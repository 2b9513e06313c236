"""What a chat service does for the incident's room: make the room (a channel, or a thread in a shared
one), keep its topic, invite people, post, edit and pin; and check at start-up that it can."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from warroom.settings import IntegrationSettings, Settings, integration_config


class ChatSettings(IntegrationSettings):
    """The incident's room in chat"""

    model_config = integration_config("chat")

    provider: str | None = Field(
        default=None,
        description="The chat service that holds each incident's room (`slack`); unset, no rooms are made",
    )
    shared_channel: str | None = Field(
        default=None,
        description="One channel (its id) for every incident, a thread each, instead of a channel each",
    )
    prefix: str = Field(default="inc", description="The start of each incident channel's name (`inc-42-...`)")
    ui_url: str | None = Field(
        default=None, description="The Prefect UI people open, linked from the pinned summary"
    )


class ChatError(RuntimeError):
    """The chat service refused or could not be reached; the message says which and why (never a secret).
    ``taken`` is set when a channel name is already in use; ``later`` (seconds) when the service's rate
    limit says to call again after a while: not a failure, the work waits for the next pass."""

    def __init__(self, message: str, *, taken: bool = False, later: float | None = None) -> None:
        super().__init__(message)
        self.taken = taken
        self.later = later


@dataclass(frozen=True)
class Room:
    channel: str  # the service's id of the channel
    name: str
    thread: str | None = None  # in a shared channel: the incident's thread
    link: str | None = None


class ChatProvider:
    name: ClassVar[str]

    def check(self, settings: Settings) -> str:
        """Can the rooms be made and told? A line saying where; ChatError naming what to set otherwise."""
        raise NotImplementedError

    def open_room(self, name: str, opening: str, settings: Settings) -> Room:
        """A new channel ``name`` (ChatError(taken=True) when in use), or with a shared channel the
        incident's thread there, started with ``opening``."""
        raise NotImplementedError

    def set_topic(self, room: Room, topic: str, settings: Settings) -> None:
        raise NotImplementedError

    def invite(self, room: Room, users: list[str], settings: Settings) -> None:
        """Bring these chat user ids into the room (those in it already are no error)."""
        raise NotImplementedError

    def post(self, room: Room, text: str, settings: Settings) -> str:
        """Post ``text`` in the room (in its thread); the message's id."""
        raise NotImplementedError

    def edit(
        self,
        room: Room,
        message: str,
        text: str,
        settings: Settings,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        """Replace a message's text (and its blocks, when given: an ask's buttons go this way)."""
        raise NotImplementedError

    def ask(self, room: Room, text: str, blocks: list[dict[str, Any]], settings: Settings) -> str:
        """Post a message with interactive blocks (an approval's buttons); the message's id."""
        raise NotImplementedError

    def open_form(self, trigger: str, view: dict[str, Any], settings: Settings) -> None:
        """Open a form (a modal) for the person whose click gave ``trigger``; it expires in seconds."""
        raise NotImplementedError

    def tell_person(self, channel: str, user: str, text: str, settings: Settings) -> None:
        """A message in ``channel`` that only ``user`` sees."""
        raise NotImplementedError

    def pin(self, room: Room, message: str, settings: Settings) -> None:
        raise NotImplementedError
