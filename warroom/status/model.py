"""The status page's vocabulary (the conventions Atlassian Statuspage, Cachet and Gatus share) and its
settings: which components a service shows as, how an incident's severity maps to a component's state, and
how a day's uptime weighs each state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from warroom.incident import Severity
from warroom.settings import IntegrationSettings, integration_config


class PublicState(StrEnum):
    """Where a public incident stands, in the words status pages use."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"
    MAINTENANCE = "under_maintenance"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


# Worst first: a component in two incidents shows the worse state.
WORST_FIRST = (
    ComponentState.MAJOR,
    ComponentState.PARTIAL,
    ComponentState.DEGRADED,
    ComponentState.MAINTENANCE,
    ComponentState.OPERATIONAL,
)


def worst(states: list[ComponentState]) -> ComponentState:
    return min(states, key=WORST_FIRST.index, default=ComponentState.OPERATIONAL)


class StatusSettings(IntegrationSettings):
    """The public status page (Warroom's own, and a vendor's beside it)"""

    model_config = integration_config("status")

    title: str = Field(default="Service status", description="The status page's heading")
    public_url: str | None = Field(
        default=None, description="Where people read the page (linked from updates and the Atom feed)"
    )
    components: dict[str, list[str]] = Field(
        default_factory=dict,
        description='The status-page components each service shows as, e.g. `{"checkout": ["Checkout", '
        '"Payments API"]}`; a service not named shows as itself (a runbook\'s `communicate.components` wins)',
    )
    impact: dict[Severity, ComponentState] = Field(
        default_factory=lambda: {
            Severity.P1: ComponentState.MAJOR,
            Severity.P2: ComponentState.PARTIAL,
            Severity.P3: ComponentState.DEGRADED,
            Severity.P4: ComponentState.OPERATIONAL,
        },
        description="The components' state an incident's level gives when the post says none (the comms "
        "lead may say another with each post)",
    )
    downtime_weights: dict[ComponentState, float] = Field(
        default_factory=lambda: {ComponentState.MAJOR: 1.0, ComponentState.PARTIAL: 0.3},
        description="How much of a minute in each state counts as down in the uptime bars (the vendors' "
        "convention: a major outage fully, a partial outage 30%, degraded performance not at all)",
    )
    history_days: int = Field(default=90, ge=1, le=366, description="Days of uptime bars")
    past_days: int = Field(
        default=15, ge=1, le=366, description="Days of past incidents the page, index.json and the feed list"
    )
    cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="Each form of the page is built at most this often"
    )
    provider: str | None = Field(
        default=None,
        description="A vendor's status page every post is also published to (`atlassian`); Warroom's own "
        "page is always served",
    )


@dataclass(frozen=True)
class StatusPost:
    """One update a person published about an incident."""

    id: int
    incident: int
    title: str  # the public incident's name, as the person gave it
    state: PublicState
    text: str
    components: dict[str, ComponentState]
    author: str
    posted_at: datetime
    started_at: datetime  # when the public incident says it began
    next_update_at: datetime | None


@dataclass(frozen=True)
class Maintenance:
    id: int
    title: str
    text: str
    components: list[str]
    starts_at: datetime
    ends_at: datetime
    author: str
