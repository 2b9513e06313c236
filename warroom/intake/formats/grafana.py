"""Grafana alerting's webhook contact point: Alertmanager's shape plus Grafana's fields."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from warroom.intake.alert import Alert
from warroom.intake.formats.alertmanager import _am_alerts, _AmAlert, _AmWebhook
from warroom.intake.formats.base import AlertFormat, validate
from warroom.settings import Settings


class _GrafanaAlert(_AmAlert):
    values: dict[str, Any] | None = None
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    panel_url: str | None = Field(default=None, alias="panelURL")
    silence_url: str | None = Field(default=None, alias="silenceURL")


class _GrafanaWebhook(_AmWebhook):
    alerts: list[_GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    org_id: int | None = Field(default=None, alias="orgId")
    title: str | None = None
    state: str | None = None
    message: str | None = None

    @field_validator("version")
    @classmethod
    def _v4(cls, v: str) -> str:
        return str(v)  # Grafana sends version "1"


def parse_grafana(data: Any) -> list[Alert]:
    hook = validate(_GrafanaWebhook, data)

    def extra(a: _AmAlert) -> dict[str, Any]:
        g = a if isinstance(a, _GrafanaAlert) else None
        return {
            "org_id": hook.org_id,
            "title": hook.title,
            "state": hook.state,
            "message": hook.message,
            "values": g.values if g else None,
            "dashboard_url": g.dashboard_url if g else None,
            "panel_url": g.panel_url if g else None,
            "silence_url": g.silence_url if g else None,
        }

    return _am_alerts(hook, "grafana", extra)


class Grafana(AlertFormat):
    name = "grafana"
    title = "Grafana alerting (webhook contact point)"

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        return parse_grafana(data)


FORMAT = Grafana()
