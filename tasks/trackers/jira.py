"""Jira Cloud (REST API v3): the incident as a Task with labels ``incident`` and ``severity/pN``, assigned
to the commander's account; each action item a Sub-task of it with assignee and due date; done when its
status is in Jira's "done" category."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from pydantic import Field, SecretStr

from tasks import rest
from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError, account
from warroom.redact import register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class JiraSettings(IntegrationSettings):
    """Jira Cloud (`WARROOM_TRACKER=jira`)"""

    model_config = integration_config("jira")

    url: str | None = Field(default=None, description="Jira Cloud site, https://your-site.atlassian.net")
    user: str | None = Field(default=None, description="Jira account email for the API token")
    token: SecretStr | None = Field(default=None, description="Jira API token")
    project: str = Field(default="INC", description="Jira project key incidents are filed in")


def _client(settings: Settings) -> httpx.Client:
    jira_settings = settings.of(JiraSettings)
    if not jira_settings.url or not jira_settings.user or jira_settings.token is None:
        raise TrackerError("jira: set WARROOM_JIRA_URL, WARROOM_JIRA_USER and WARROOM_JIRA_TOKEN")
    token = jira_settings.token.get_secret_value()
    register_secret(token)
    basic = base64.b64encode(f"{jira_settings.user}:{token}".encode()).decode()
    register_secret(basic)
    return httpx.Client(
        base_url=jira_settings.url.rstrip("/"),
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        timeout=15,
        verify=tls_context(),
    )


def adf(text: str) -> dict[str, Any]:
    """Plain paragraphs in Atlassian Document Format, the only description v3 takes."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


class Jira(Tracker):
    name = "jira"

    def create(self, spec: TaskSpec, settings: Settings) -> Created:
        jira_settings = settings.of(JiraSettings)
        fields: dict[str, Any] = {
            "project": {"key": jira_settings.project},
            "summary": spec.title[:255],
            "issuetype": {"name": "Sub-task" if spec.parent else "Task"},
            "labels": [label.replace(" ", "-") for label in spec.labels],
            "description": adf(spec.body),
        }
        if spec.parent:
            fields["parent"] = {"key": spec.parent}
        assignee = account(settings, spec.assignee)
        if assignee:
            fields["assignee"] = {"accountId": assignee}
        if spec.due:
            fields["duedate"] = spec.due.isoformat()
        with _client(settings) as client:
            made = rest.request(
                client,
                "POST",
                "/rest/api/3/issue",
                what=f"jira: creating {spec.ref} in {jira_settings.project}",
                error=TrackerError,
                json={"fields": fields},
            ).json()
        return Created(str(made["key"]), f"{(jira_settings.url or '').rstrip('/')}/browse/{made['key']}")

    def is_done(self, key: str, settings: Settings) -> bool | None:
        with _client(settings) as client:
            got = rest.request(
                client,
                "GET",
                f"/rest/api/3/issue/{key}",
                what=f"jira: reading {key}",
                error=TrackerError,
                params={"fields": "status"},
            ).json()
        category = (((got.get("fields") or {}).get("status") or {}).get("statusCategory") or {}).get("key")
        return bool(category == "done")


TRACKER = Jira()
