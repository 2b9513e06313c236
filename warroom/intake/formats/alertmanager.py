"""Prometheus Alertmanager's webhook (version 4): one payload per alert group."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warroom.intake.alert import Alert, AlertStatus, fingerprint_of
from warroom.intake.formats.base import AlertFormat, string_labels, validate
from warroom.settings import Settings

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class _AmAlert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = None

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _string_labels(cls, v: Any) -> dict[str, str]:
        return string_labels(v)


class _AmWebhook(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: str = "4"
    receiver: str | None = None
    status: Literal["firing", "resolved"] | None = None
    alerts: list[_AmAlert] = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    group_key: str | None = Field(default=None, alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")

    @field_validator("version")
    @classmethod
    def _v4(cls, v: str) -> str:
        if str(v) != "4":
            raise ValueError(f"only Alertmanager webhook version 4 is understood, got {v!r}")
        return str(v)


def _am_alerts(hook: _AmWebhook, source: str, extra_of: Callable[[_AmAlert], dict[str, Any]]) -> list[Alert]:
    out = []
    for a in hook.alerts:
        ends = a.ends_at if a.ends_at is not None and a.ends_at > ZERO_TIME else None  # 0001-01-01: firing
        out.append(
            Alert(
                source=source,
                status=AlertStatus(a.status),
                labels=a.labels,
                annotations={**hook.common_annotations, **a.annotations},
                starts_at=a.starts_at,
                ends_at=ends,
                fingerprint=a.fingerprint or fingerprint_of(a.labels),
                group_key=hook.group_key,
                generator_url=a.generator_url,
                extra=extra_of(a),
            )
        )
    return out


def parse_alertmanager(data: Any) -> list[Alert]:
    hook = validate(_AmWebhook, data)
    return _am_alerts(
        hook,
        "alertmanager",
        lambda a: {
            "receiver": hook.receiver,
            "external_url": hook.external_url,
            "truncated_alerts": hook.truncated_alerts,
        },
    )


class Alertmanager(AlertFormat):
    name = "alertmanager"
    title = "Prometheus Alertmanager (webhook v4)"

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        return parse_alertmanager(data)


FORMAT = Alertmanager()
