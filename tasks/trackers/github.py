"""GitHub Issues (REST API): the incident as an issue labelled ``incident`` and ``severity/pN``, assigned to
the commander; each action item an issue of its own attached as a sub-issue of the incident's (and listed
in it), with its owner and due date; done when the issue is closed."""

from __future__ import annotations

import httpx
from pydantic import Field, SecretStr

from tasks import rest
from tasks.trackers.base import Created, TaskSpec, Tracker, TrackerError, account
from warroom.redact import register_secret
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class GitHubSettings(IntegrationSettings):
    """GitHub issues (`WARROOM_TRACKER=github`)"""

    model_config = integration_config("github")

    url: str = Field(default="https://api.github.com", description="GitHub REST API base URL")
    repo: str | None = Field(default=None, description="owner/name of the repository for incident issues")
    token: SecretStr | None = Field(default=None, description="GitHub token (issues: write)")


API_VERSION = "2022-11-28"


def _client(settings: Settings) -> httpx.Client:
    gh = settings.of(GitHubSettings)
    if not gh.repo or gh.token is None:
        raise TrackerError("github: set WARROOM_GITHUB_REPO (owner/name) and WARROOM_GITHUB_TOKEN")
    token = gh.token.get_secret_value()
    register_secret(token)
    return httpx.Client(
        base_url=gh.url.rstrip("/"),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        },
        timeout=15,
        verify=tls_context(),
    )


class GitHub(Tracker):
    name = "github"

    def create(self, spec: TaskSpec, settings: Settings) -> Created:
        gh = settings.of(GitHubSettings)
        repo = gh.repo
        body = spec.body + (f"\n\n**Due:** {spec.due}" if spec.due else "")
        issue = {"title": spec.title, "body": body, "labels": spec.labels}
        assignee = account(settings, spec.assignee)
        if assignee:
            issue["assignees"] = [assignee]
        with _client(settings) as client:
            what = f"github: creating {spec.ref} in {repo}"
            made = rest.request(
                client, "POST", f"/repos/{repo}/issues", what=what, error=TrackerError, json=issue
            )
            data = made.json()
            if spec.parent:
                rest.request(
                    client,
                    "POST",
                    f"/repos/{repo}/issues/{spec.parent}/sub_issues",
                    what=f"github: attaching #{data['number']} to #{spec.parent}",
                    error=TrackerError,
                    json={"sub_issue_id": data["id"]},
                )
        return Created(str(data["number"]), data.get("html_url"))

    def is_done(self, key: str, settings: Settings) -> bool | None:
        gh = settings.of(GitHubSettings)
        with _client(settings) as client:
            got = rest.request(
                client,
                "GET",
                f"/repos/{gh.repo}/issues/{key}",
                what=f"github: reading #{key}",
                error=TrackerError,
            )
        return bool(got.json().get("state") == "closed")


TRACKER = GitHub()
