"""What an alert format declares: its name, how a sender authenticates, its handshake, and its parser.

A format is one module in this package with a module-level ``FORMAT``; the registry finds it there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from warroom.fieldpath import format_loc
from warroom.intake import auth
from warroom.intake.alert import Alert, PayloadError
from warroom.settings import Settings


@dataclass(frozen=True)
class Parsed:
    """The alerts in one payload; ``note`` says why there are none (a handshake, nothing to act on)."""

    alerts: list[Alert] = field(default_factory=list)
    note: str | None = None


class AlertFormat:
    """One sender's webhook format. Override what differs from the defaults."""

    name: ClassVar[str]
    title: ClassVar[str]

    def authenticate(self, headers: Mapping[str, str], body: bytes, settings: Settings) -> None:
        """Raise ``auth.Unauthorized`` unless the request proves it comes from a configured sender.

        Default: the receiver's bearer token or HMAC signature for this format (settings)."""
        auth.check_shared(self.name, headers, body, settings)

    def credentials(self, body: bytes, settings: Settings) -> dict[str, str]:
        """The headers ``authenticate`` accepts: what a sender configured like this one sends (replays)."""
        return auth.shared_credentials(self.name, body, settings)

    def handshake(self, data: Any, settings: Settings) -> str | None:
        """Answer a sender's set-up message (a subscription confirmation) and say what was done; None
        when ``data`` is not a handshake. Default: the format has none."""
        return None

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        """The alerts in the decoded JSON body; ``PayloadError`` names the field that is wrong."""
        raise NotImplementedError

    def replayed(self, data: Any, settings: Settings) -> list[Alert]:
        """The alerts of a saved payload, for a game day: parsed as received but with nothing answered
        and nothing fetched (a handshake is not made again; a signature is not checked). Never for live
        traffic, which is authenticated before it is parsed."""
        return self.parse(data, settings)

    def receive(self, data: Any, settings: Settings) -> Parsed:
        note = self.handshake(data, settings)
        if note is not None:
            return Parsed([], note)
        alerts = self.parse(data, settings)
        return Parsed(alerts, None if alerts else "nothing to act on in this payload")


def validate(model: type[BaseModel], data: Any) -> Any:
    """Validate against a vendor model; the first problem becomes a PayloadError naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required field is missing"
        raise PayloadError(format_loc(err["loc"], "<body>"), message) from None


def string_labels(value: Any) -> dict[str, str]:
    """Labels and annotations as strings; a non-object is refused."""
    if not isinstance(value, dict):
        raise ValueError("must be an object of string labels")
    return {str(k): str(v) for k, v in value.items()}
