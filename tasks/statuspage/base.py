"""What a vendor's status page does for Warroom: take a public incident's update (the first one opens the
incident there) and set its components' states, and check at start-up that it can."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from warroom.settings import Settings
from warroom.status.model import ComponentState, PublicState


class StatusPageError(RuntimeError):
    """The vendor refused or could not be reached; the message names what and why, never the key."""


@dataclass(frozen=True)
class PublicUpdate:
    incident: str  # INC-N
    title: str
    state: PublicState
    text: str
    components: dict[str, ComponentState]
    started_at: datetime
    external_id: str | None  # the vendor's incident, once the first update made it


class StatusPageProvider:
    name: ClassVar[str]

    def check(self, settings: Settings) -> str:
        """Can updates be published? A line saying where; StatusPageError naming what to set otherwise."""
        raise NotImplementedError

    def publish(self, update: PublicUpdate, settings: Settings) -> str:
        """Open the public incident (no ``external_id``) or add this update to it, the components set as
        it says; the vendor's id of the incident."""
        raise NotImplementedError
