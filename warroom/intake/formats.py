"""Alert formats -> :class:`Alert`: Prometheus Alertmanager (v4), Grafana, PagerDuty v3, generic JSON.

CloudWatch through SNS is in ``sns.py`` (it needs signature checks). Each parser takes the decoded JSON
and raises :class:`PayloadError` naming the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from warroom.intake.alert import Alert, AlertStatus, PayloadError, fingerprint_of
from warroom.runbook import format_loc

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


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


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of string labels")
    return {str(k): str(v) for k, v in value.items()}


# --- Alertmanager -----------------------------------------------------------------------------


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
        return _labels(v)


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


# --- Grafana -----------------------------------------------------------------------------


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


# --- PagerDuty v3 -----------------------------------------------------------------------------

PAGERDUTY_FIRING = {
    "incident.triggered",
    "incident.reopened",
    "incident.escalated",
    "incident.priority_updated",
}
PAGERDUTY_RESOLVED = {"incident.resolved"}


class _PdService(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    summary: str | None = None


class _PdIncident(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    type: str = "incident"
    title: str
    status: str | None = None
    number: int | None = None
    html_url: str | None = None
    incident_key: str | None = None
    created_at: datetime | None = None
    urgency: str | None = None
    service: _PdService | None = None
    priority: dict[str, Any] | None = None


class _PdEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    event_type: str
    resource_type: str
    occurred_at: datetime
    data: _PdIncident


class _PdWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: _PdEvent


def parse_pagerduty(data: Any) -> list[Alert]:
    """incident.triggered (reopened, escalated) fire; incident.resolved resolves; other events: kept only."""
    event = validate(_PdWebhook, data).event
    if event.resource_type != "incident":
        return []
    if event.event_type in PAGERDUTY_FIRING:
        status = AlertStatus.FIRING
    elif event.event_type in PAGERDUTY_RESOLVED:
        status = AlertStatus.RESOLVED
    else:
        return []
    inc = event.data
    labels = {"alertname": inc.title, "pagerduty_incident": inc.id}
    if inc.service is not None and inc.service.summary:
        labels["service"] = inc.service.summary
    if inc.urgency:
        labels["urgency"] = inc.urgency
        labels["severity"] = "critical" if inc.urgency == "high" else "warning"
    if inc.priority and inc.priority.get("summary"):
        labels["priority"] = str(inc.priority["summary"])
    return [
        Alert(
            source="pagerduty",
            status=status,
            labels=labels,
            annotations={"summary": inc.title},
            starts_at=inc.created_at or event.occurred_at,
            ends_at=event.occurred_at if status is AlertStatus.RESOLVED else None,
            fingerprint=inc.incident_key or inc.id,
            generator_url=inc.html_url,
            extra={"event_id": event.id, "event_type": event.event_type, "number": inc.number},
        )
    ]


# --- generic JSON -----------------------------------------------------------------------------


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
        return _labels(v)


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


PARSERS: dict[str, Callable[[Any], list[Alert]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "pagerduty": parse_pagerduty,
    "generic": parse_generic,
}

# Every format the receiver takes, in the order it lists them; CloudWatch through SNS is parsed in sns.py.
FORMAT_NAMES: tuple[str, ...] = ("alertmanager", "grafana", "sns", "pagerduty", "generic")
assert set(PARSERS) | {"sns"} == set(FORMAT_NAMES)
