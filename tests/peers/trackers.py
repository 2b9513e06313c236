"""Loopback stand-ins for GitHub's REST API (issues, sub-issues) and Jira Cloud's REST API v3 (issue, status)
as their documentation describes them: paths, status codes, error bodies, rate-limit headers. Each records
the exact requests it got; a test can close a task there, or make it refuse or throttle the next calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.peers import serve_json

GITHUB_TOKEN = "ghp_warroomtesttoken0123456789"
JIRA_USER, JIRA_TOKEN = "warroom@example.com", "jira-api-token-0123"


@dataclass
class Peer:
    url: str = ""
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)  # next answers, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str | None = None) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, _, b in self.requests if method is None or m == method]


def _github(
    peer: Peer, method: str, path: str, headers: dict[str, str], body: Any
) -> tuple[int, dict[str, str], Any]:
    if headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
        return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
    parts = path.strip("/").split("/")  # repos OWNER REPO issues [N [sub_issues]]
    if parts[:1] != ["repos"] or len(parts) < 4 or parts[3] != "issues":
        return 404, {}, {"message": "Not Found"}
    repo = "/".join(parts[1:3])
    if method == "POST" and len(parts) == 4:
        if not body or not body.get("title"):
            return (
                422,
                {},
                {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]},
            )
        number = len(peer.issues) + 1
        issue = {
            "id": 9000 + number,
            "number": number,
            "title": body["title"],
            "body": body.get("body"),
            "labels": [{"name": n} for n in body.get("labels", [])],
            "assignees": [{"login": a} for a in body.get("assignees", [])],
            "state": "open",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "sub_issues": [],
        }
        peer.issues[str(number)] = issue
        return 201, {"x-ratelimit-remaining": "4999"}, issue
    issue = peer.issues.get(parts[4]) if len(parts) > 4 else None
    if issue is None:
        return 404, {}, {"message": "Not Found"}
    if method == "POST" and parts[5:] == ["sub_issues"]:
        child = next((i for i in peer.issues.values() if i["id"] == body.get("sub_issue_id")), None)
        if child is None:
            return 422, {}, {"message": "Validation Failed: sub_issue_id does not exist"}
        issue["sub_issues"].append(child["number"])
        return 201, {}, issue
    if method == "GET" and len(parts) == 5:
        return 200, {}, issue
    return 404, {}, {"message": "Not Found"}


def _jira(
    peer: Peer, method: str, path: str, headers: dict[str, str], body: Any
) -> tuple[int, dict[str, str], Any]:
    import base64

    expected = "Basic " + base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
    if headers.get("Authorization") != expected:
        return (
            401,
            {},
            {
                "errorMessages": [
                    "You are not authenticated. Authentication required to perform this operation."
                ]
            },
        )
    if method == "POST" and path == "/rest/api/3/issue":
        fields = (body or {}).get("fields") or {}
        if fields.get("project", {}).get("key") != "OPS":
            return 400, {}, {"errorMessages": [], "errors": {"project": "valid project is required"}}
        if (
            fields.get("issuetype", {}).get("name") == "Sub-task"
            and fields.get("parent", {}).get("key") not in peer.issues
        ):
            return (
                400,
                {},
                {
                    "errorMessages": [],
                    "errors": {"parent": "Given parent work item does not belong to appropriate hierarchy."},
                },
            )
        number = 100 + len(peer.issues) + 1
        key = f"OPS-{number}"
        peer.issues[key] = {
            "id": str(number),
            "key": key,
            "fields": {**fields, "status": {"name": "To Do", "statusCategory": {"key": "new"}}},
        }
        return 201, {}, {"id": str(number), "key": key, "self": f"{peer.url}/rest/api/3/issue/{number}"}
    if method == "GET" and path.startswith("/rest/api/3/issue/"):
        issue = peer.issues.get(path.rsplit("/", 1)[-1])
        if issue is None:
            return (
                404,
                {},
                {
                    "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                    "errors": {},
                },
            )
        return (
            200,
            {},
            {"id": issue["id"], "key": issue["key"], "fields": {"status": issue["fields"]["status"]}},
        )
    return 404, {}, {"errorMessages": ["Not found"]}


@contextmanager
def running_github() -> Iterator[Peer]:
    yield from serve_json(Peer(), _github)


@contextmanager
def running_jira() -> Iterator[Peer]:
    yield from serve_json(Peer(), _jira)


def close_github(peer: Peer, number: str) -> None:
    peer.issues[number]["state"] = "closed"


def close_jira(peer: Peer, key: str) -> None:
    peer.issues[key]["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}


def rate_limited_github(peer: Peer) -> None:
    """GitHub's primary rate limit: 403 with the quota at zero and when it resets."""
    reset = str(int(time.time()) + 1)
    peer.refuse.append(
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            {"message": "API rate limit exceeded for user ID 1."},
        )
    )
