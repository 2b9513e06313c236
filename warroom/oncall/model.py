"""An on-call schedule as a team writes it (YAML beside the runbooks): a rotation handed off at a local
time in a named time zone, ordered members per layer (primary, secondary), overrides and leave."""

from __future__ import annotations

import datetime as dt
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warroom.duration import Duration

PERSON = r"^[A-Za-z0-9_.@-]+$"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (write an IANA name like Europe/Berlin)") from None


class Handoff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: str | None = Field(default=None, description="Weekday of the handoff (must be the start's weekday)")
    time: dt.time = Field(default=dt.time(9, 0), description="Local time of the handoff")

    @field_validator("day")
    @classmethod
    def _weekday(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in WEEKDAYS:
            raise ValueError(f"{v!r} is not a weekday ({', '.join(WEEKDAYS)})")
        return v.lower() if v else v


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    length: Duration = Field(default=timedelta(weeks=1), description="Whole days: 1d, 7d, 1w, 14d")
    start: date = Field(description="A day on which a handoff happens; the first member's first shift")
    handoff: Handoff = Field(default_factory=Handoff)

    @field_validator("length")
    @classmethod
    def _whole_days(cls, v: timedelta) -> timedelta:
        if v.total_seconds() <= 0 or v.total_seconds() % 86400:
            raise ValueError("a rotation is a whole number of days (1d, 7d, 1w)")
        return v

    @model_validator(mode="after")
    def _day_matches_start(self) -> Rotation:
        day = self.handoff.day
        if day is not None and WEEKDAYS[self.start.weekday()] != day:
            raise ValueError(
                f"start {self.start} is a {WEEKDAYS[self.start.weekday()]}, but handoff.day is {day}"
            )
        return self


class Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    members: list[str] = Field(min_length=1, description="In rotation order")

    @field_validator("members")
    @classmethod
    def _people(cls, v: list[str]) -> list[str]:
        for person in v:
            if not re.match(PERSON, person):
                raise ValueError(f"{person!r} is not a person's name (letters, digits, _ . @ -)")
        if len(set(v)) != len(v):
            raise ValueError("a member appears twice in one layer")
        return v


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(default=None, description="Where they live (off-hours); default: the team's")
    slack: str | None = Field(default=None, description="Slack user id (U…), for pages and the ack button")
    email: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            zone(v)
        return v


class Override(BaseModel):
    """Someone else on call for a layer over a time range (a swap, a sick day)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    layer: str
    person: str = Field(pattern=PERSON)
    start: datetime = Field(alias="from", description="Local time of the team unless it carries an offset")
    end: datetime = Field(alias="to")
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError("an override ends after it starts")
        return self


class Leave(BaseModel):
    """Days someone cannot be on call (holiday, leave): the next member of the layer covers."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    person: str = Field(pattern=PERSON)
    start: date = Field(alias="from")
    end: date = Field(alias="to", description="Last day of the leave (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> Leave:
        if self.end < self.start:
            raise ValueError("leave ends on or after the day it starts")
        return self


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ack_within: Duration | None = Field(
        default=None, description="A page not acknowledged this long goes to the next step (default: policy)"
    )
    path: list[str] = Field(
        default_factory=lambda: ["primary", "secondary"],
        description="Who is paged in turn: layer names, or people (a manager) after the layers",
    )
    windows: dict[str, Duration] = Field(
        default_factory=dict,
        description="A step's own window by its name on the path, as an escalation rule's delay in "
        "PagerDuty (`{secondary: 15m}`: the last step waits longer before the path is exhausted)",
    )

    @model_validator(mode="after")
    def _windows_on_the_path(self) -> Escalation:
        for name in self.windows:
            if name not in self.path:
                raise ValueError(f"windows: {name!r} is not on the path ({', '.join(self.path)})")
        return self

    def window(self, step: int) -> timedelta | None:
        """How long step ``step`` waits for an acknowledgement, by the schedule (None: the level's)."""
        return self.windows.get(self.path[step], self.ack_within)


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    timezone: str
    rotation: Rotation
    layers: list[Layer] = Field(min_length=1)
    people: dict[str, Person] = Field(default_factory=dict)
    escalation: Escalation = Field(default_factory=Escalation)
    overrides: list[Override] = Field(default_factory=list)
    holidays: list[Leave] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        zone(v)
        return v

    @model_validator(mode="after")
    def _references(self) -> Schedule:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("two layers have the same name")
        for i, o in enumerate(self.overrides):
            if o.layer not in names:
                raise ValueError(f"overrides[{i}]: no layer {o.layer!r} (layers: {', '.join(names)})")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"team {self.team} has no layer {name!r} (layers: {', '.join(x.name for x in self.layers)})"
        )

    def person_tz(self, person: str) -> ZoneInfo:
        found = self.people.get(person)
        return zone(found.timezone) if found and found.timezone else self.tz

    def members(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            seen.update(dict.fromkeys(layer.members))
        return list(seen)
