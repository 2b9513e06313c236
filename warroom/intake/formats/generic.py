"""Generic JSON: the documented minimal schema (docs/intake.md), one alert or ``{"alerts": [...]}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.intake.alert import Alert, AlertStatus, fingerprint_of
from warroom.intake.formats.base import AlertFormat, string_labels, validate
from warroom.settings import Settings


class _GenericAlert(BaseModel):
    """The documented minimal schema (docs/intake.md)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = None
    group_key: str | None = None
    starts_at: datetime | None = None
    url: str | None = None

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _string_labels(cls, v: Any) -> dict[str, str]:
        return string_labels(v)


class _GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[_GenericAlert] = Field(min_length=1)


def parse_generic(data: Any) -> list[Alert]:
    batch = validate(
        _GenericBatch, data if isinstance(data, dict) and "alerts" in data else {"alerts": [data]}
    )
    out = []
    for a in batch.alerts:
        labels = {"alertname": a.title, **a.labels}
        out.append(
            Alert(
                source="generic",
                status=AlertStatus(a.status),
                labels=labels,
                annotations=a.annotations,
                starts_at=a.starts_at,
                fingerprint=a.fingerprint or fingerprint_of(labels),
                group_key=a.group_key,
                generator_url=a.url,
            )
        )
    return out


class Generic(AlertFormat):
    name = "generic"
    title = "generic JSON"

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        return parse_generic(data)


FORMAT = Generic()
