"""Jira Cloud (REST API v3): the incident as a Task with labels ``incident`` and ``severity/pN``, assigned
to the commander's account; each action item a Sub-task of it with assignee and due date; done when its
status is in Jira's "done" category."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tasks import rest
from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError, account
from warroom.redact import register_secret
from warroom.settings import Settings


def _client(settings: Settings) -> httpx.Client:
    if not settings.jira_url or not settings.jira_user or settings.jira_token is None:
        raise TrackerError("jira: set WARROOM_JIRA_URL, WARROOM_JIRA_USER and WARROOM_JIRA_TOKEN")
    token = settings.jira_token.get_secret_value()
    register_secret(token)
    basic = base64.b64encode(f"{settings.jira_user}:{token}".encode()).decode()
    register_secret(basic)
    return httpx.Client(
        base_url=settings.jira_url.rstrip("/"),
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        timeout=15,
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
        fields: dict[str, Any] = {
            "project": {"key": settings.jira_project},
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
                what=f"jira: creating {spec.ref} in {settings.jira_project}",
                error=TrackerError,
                json={"fields": fields},
            ).json()
        return Created(str(made["key"]), f"{(settings.jira_url or '').rstrip('/')}/browse/{made['key']}")

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
