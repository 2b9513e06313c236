"""Any tracker with a JSON REST API, described by the ``generic_tracker`` setting rather than coded: a task
is a POST of ``{title, description, labels, assignee, due, parent, ref}`` to a URL template, its key and URL
are read from the answer by dotted paths, and it is done when a status field says so."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, Field, SecretStr

from tasks import rest
from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError, account
from warroom.redact import register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class GenericTracker(BaseModel):
    """A tracker with a JSON REST API (GitScrum, an in-house one) described instead of coded: where to POST
    a task (``{parent}`` for a subtask), where to read one (``{key}``), and which fields of the answer are the
    key, the URL and the status (dotted paths)."""

    url: str
    create: str = "/tasks"
    subtask: str | None = Field(default=None, description="Default: create, with parent in the body")
    status: str = "/tasks/{key}"
    token: SecretStr | None = None
    key_field: str = "id"
    url_field: str | None = "url"
    done_field: str = "status"
    done_values: list[str] = Field(default_factory=lambda: ["done", "closed"])


class GenericTrackerSettings(IntegrationSettings):
    """A JSON REST tracker described, not coded (`WARROOM_TRACKER=generic`)"""

    model_config = integration_config("generic_tracker")

    tracker: GenericTracker | None = Field(
        default=None,
        validation_alias="WARROOM_GENERIC_TRACKER",
        description='JSON: {"url": ..., "create": "/tasks", "status": "/tasks/{key}", "key_field": "id", '
        '"url_field": "url", "done_field": "status", "done_values": ["done"], "token": ...}',
    )


def _config(settings: Settings) -> GenericTracker:
    generic_settings = settings.of(GenericTrackerSettings)
    if generic_settings.tracker is None:
        raise TrackerError('generic: set WARROOM_GENERIC_TRACKER (JSON: {"url": ..., "create": ..., ...})')
    return generic_settings.tracker


def _client(config: GenericTracker) -> httpx.Client:
    headers = {"Accept": "application/json"}
    if config.token is not None:
        register_secret(config.token.get_secret_value())
        headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
    return httpx.Client(base_url=config.url.rstrip("/"), headers=headers, timeout=15, verify=tls_context())


def field(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


class Generic(Tracker):
    name = "generic"

    def create(self, spec: TaskSpec, settings: Settings) -> Created:
        config = _config(settings)
        path = (config.subtask or config.create) if spec.parent else config.create
        task = {
            "title": spec.title,
            "description": spec.body,
            "labels": spec.labels,
            "assignee": account(settings, spec.assignee),
            "due": spec.due.isoformat() if spec.due else None,
            "parent": spec.parent,
            "ref": spec.ref,
            "source": "warroom",
        }
        with _client(config) as client:
            answer = rest.request(
                client,
                "POST",
                path.format(parent=spec.parent or ""),
                what=f"generic: creating {spec.ref}",
                error=TrackerError,
                json=task,
            ).json()
        key = field(answer, config.key_field)
        if key in (None, ""):
            raise TrackerError(f"generic: the answer has no {config.key_field!r} (the task key)")
        url = field(answer, config.url_field) if config.url_field else None
        return Created(str(key), str(url) if url else None)

    def is_done(self, key: str, settings: Settings) -> bool | None:
        config = _config(settings)
        with _client(config) as client:
            answer = rest.request(
                client,
                "GET",
                config.status.format(key=key),
                what=f"generic: reading {key}",
                error=TrackerError,
            ).json()
        value = field(answer, config.done_field)
        return str(value).lower() in {v.lower() for v in config.done_values}


TRACKER = Generic()
