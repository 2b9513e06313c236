"""An incident channel's name: ``inc-42-checkout-errors``, as Slack allows one (lower case letters, digits,
hyphens and underscores, at most 80 characters), unique by its number, with a suffix when taken."""

from __future__ import annotations

import re

MAX_LENGTH = 80  # Slack's limit on a channel name
_NOT_ALLOWED = re.compile(r"[^a-z0-9_]+")


def slug(text: str) -> str:
    return _NOT_ALLOWED.sub("-", text.lower()).strip("-_")


def channel_name(number: int, title: str, *, prefix: str = "inc", attempt: int = 1) -> str:
    """The channel for incident ``number``; ``attempt`` > 1 when the name was taken (``...-2``)."""
    head = f"{slug(prefix) or 'inc'}-{number}"
    tail = f"-{attempt}" if attempt > 1 else ""
    words = slug(title)
    room = MAX_LENGTH - len(head) - len(tail) - 1
    if words and room > 0:
        head = f"{head}-{words[:room].rstrip('-_')}"
    return f"{head}{tail}"


def given_name(channel: str) -> str:
    """A channel a runbook names (``#inc-web``, ``{{ ... }}`` rendered) made a valid name."""
    return slug(channel.lstrip("#"))[:MAX_LENGTH].rstrip("-_")
