"""The one alert model every monitoring format is parsed into."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class PayloadError(ValueError):
    """A payload that cannot be understood: names the field and what is wrong with it."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


MAX_DEPTH = 32  # far deeper than any vendor's payload; deeper is an attack on the parsers, refused


def decode_json(body: bytes) -> Any:
    """The body as JSON, or a PayloadError (400) saying why: not JSON, not UTF-8, or nested too deep."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError("<body>", f"invalid JSON: {exc}", 400) from None
    except ValueError as exc:  # Python's limit on integer digits (4300): a number no sender means
        raise PayloadError("<body>", f"invalid JSON: {str(exc)[:200]}", 400) from None
    except RecursionError:
        raise PayloadError("<body>", f"JSON nested deeper than {MAX_DEPTH} levels", 400) from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError("<body>", f"JSON nested deeper than {MAX_DEPTH} levels", 400)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return data


class Alert(BaseModel):
    source: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str
    group_key: str | None = None
    generator_url: str | None = None
    payload_id: int | None = Field(default=None, description="The raw body in the ledger")
    extra: dict[str, Any] = Field(default_factory=dict, description="Format-specific fields kept as sent")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    def context(self) -> dict[str, Any]:
        """What runbooks see as ``alert`` (templates, conditions, ``from:``)."""
        return self.model_dump(mode="json")

    def summary(self) -> str:
        text = self.annotations.get("summary") or self.annotations.get("description") or ""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{self.name}{{{labels}}} {self.status.value}" + (f": {text}" if text else "")


def fingerprint_of(labels: dict[str, str]) -> str:
    """A stable fingerprint of a label set, for formats that do not send one."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
