"""Trackers against loopback peers that follow GitHub's and Jira's documented APIs: the exact requests for
an incident, its review and its action items; nothing opened twice; work closed there read back as done;
rate limits waited out; a tracker that is down or refuses leaves the ledger whole and catches up later."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from flows.tracking import sync
from tests.net import free_port
from tests.peers.trackers import (
    GITHUB_TOKEN,
    JIRA_TOKEN,
    JIRA_USER,
    close_github,
    close_jira,
    rate_limited_github,
    running_github,
    running_jira,
)
from warroom.incident import ActionItemStatus, Role, Severity, Status
from warroom.ledger import Store
from warroom.settings import get_settings

REVIEW = date(2026, 12, 2)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("WARROOM_TRACKER_USERS", json.dumps({"alice": "acct-alice", "bob": "acct-bob"}))
    get_settings.cache_clear()
    s = Store.from_settings()
    yield s
    s.close()


def resolved_incident(store: Store) -> int:
    n = store.open_or_attach("api:outage", title="API outage", severity=Severity.P1).incident.number
    store.assign_role(n, Role.COMMANDER, "alice")
    store.set_status(n, Status.RESOLVED)
    store.add_action_item(n, "Add canary deployment", owner="bob", due=date(2026, 12, 5))
    return n


def use(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


def test_github_gets_the_incident_as_an_issue_and_each_follow_up_as_a_sub_issue_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = resolved_incident(store)
    title = f"[P1] API outage {store.get(n).detected_at:%Y-%m-%d}"
    with running_github() as gh:
        use(
            monkeypatch,
            WARROOM_TRACKER="github",
            WARROOM_GITHUB_URL=gh.url,
            WARROOM_GITHUB_REPO="acme/ops",
            WARROOM_GITHUB_TOKEN=GITHUB_TOKEN,
        )
        lines = sync(get_settings(), store, n, review_due=REVIEW).lines
        assert lines == [
            "INC-1: incident tracked as 1",
            "INC-1: review tracked as 2",
            "INC-1: action:1 tracked as 3",
        ]
        posts = gh.calls("POST")
        assert [p for _, p, _ in posts] == [
            "/repos/acme/ops/issues",
            "/repos/acme/ops/issues",
            "/repos/acme/ops/issues/1/sub_issues",
            "/repos/acme/ops/issues",
            "/repos/acme/ops/issues/1/sub_issues",
        ]
        incident_body = posts[0][2]
        assert (incident_body["title"], incident_body["labels"], incident_body["assignees"]) == (
            title,
            ["incident", "severity/p1"],
            ["acct-alice"],
        )
        assert posts[3][2]["title"] == "Add canary deployment" and posts[3][2]["assignees"] == ["acct-bob"]
        assert "**Due:** 2026-12-05" in posts[3][2]["body"]
        assert posts[4][2] == {"sub_issue_id": 9003}
        headers = gh.requests[0][2]
        assert (
            headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
            and headers["X-GitHub-Api-Version"] == "2022-11-28"
        )
        assert gh.issues["1"]["sub_issues"] == [2, 3]
        [item] = store.action_items("INC-1")
        assert item.tracker_url == "https://github.com/acme/ops/issues/3"

        assert sync(get_settings(), store, n, review_due=REVIEW).lines == []  # nothing twice
        assert len(gh.calls("POST")) == 5
        close_github(gh, "3")
        rate_limited_github(gh)  # the next call meets an exhausted quota and waits for its reset
        assert sync(get_settings(), store, n).lines == ["INC-1: action item 1 done in github"]
    [item] = store.action_items("INC-1")
    assert item.status is ActionItemStatus.DONE


def test_jira_gets_a_task_with_sub_tasks_assigned_by_account_with_due_dates(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = resolved_incident(store)
    with running_jira() as jira:
        use(
            monkeypatch,
            WARROOM_TRACKER="jira",
            WARROOM_JIRA_URL=jira.url,
            WARROOM_JIRA_USER=JIRA_USER,
            WARROOM_JIRA_TOKEN=JIRA_TOKEN,
            WARROOM_JIRA_PROJECT="OPS",
        )
        jira.refuse.append((429, {"Retry-After": "1"}, {"errorMessages": ["Rate limit exceeded."]}))
        assert sync(get_settings(), store, n, review_due=REVIEW).lines == [
            "INC-1: incident tracked as OPS-101",
            "INC-1: review tracked as OPS-102",
            "INC-1: action:1 tracked as OPS-103",
        ]
        posts = [b for m, p, b in jira.calls("POST") if p == "/rest/api/3/issue"]
        assert len(posts) == 4  # the throttled first attempt, then three
        task, review, sub = (p["fields"] for p in posts[1:])
        assert task["project"] == {"key": "OPS"} and task["issuetype"] == {"name": "Task"}
        assert task["labels"] == ["incident", "severity/p1"] and task["assignee"] == {
            "accountId": "acct-alice"
        }
        assert task["description"]["type"] == "doc" and "parent" not in task
        assert review["issuetype"] == {"name": "Sub-task"} and review["duedate"] == "2026-12-02"
        assert sub["parent"] == {"key": "OPS-101"} and sub["duedate"] == "2026-12-05"
        assert sub["assignee"] == {"accountId": "acct-bob"}
        [item] = store.action_items("INC-1")
        assert item.tracker_url == f"{jira.url}/browse/OPS-103"
        close_jira(jira, "OPS-103")
        assert sync(get_settings(), store, n).lines == ["INC-1: action item 1 done in jira"]


def test_a_tracker_down_or_refusing_leaves_the_ledger_whole_and_the_next_sync_catches_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = resolved_incident(store)
    use(
        monkeypatch,
        WARROOM_TRACKER="jira",
        WARROOM_JIRA_URL=f"http://127.0.0.1:{free_port()}",
        WARROOM_JIRA_USER=JIRA_USER,
        WARROOM_JIRA_TOKEN=JIRA_TOKEN,
        WARROOM_JIRA_PROJECT="OPS",
    )
    synced = sync(get_settings(), store, n)
    [down] = synced.lines
    assert "incident failed: jira: creating incident in OPS: cannot reach it" in down and synced.failed == 1
    by_hand = subprocess.run(
        [sys.executable, "-m", "cli", "actions", "sync", "--incident", f"INC-{n}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_hand.returncode == 1 and "the tracker refused 1 change(s)" in by_hand.stderr, by_hand.stderr
    with running_jira() as jira:
        use(monkeypatch, WARROOM_JIRA_URL=jira.url, WARROOM_JIRA_PROJECT="NOPE")
        [refused] = sync(get_settings(), store, n).lines
        assert refused.endswith("400 project: valid project is required")
        use(monkeypatch, WARROOM_JIRA_TOKEN="wrong-token", WARROOM_JIRA_PROJECT="OPS")
        [unauthorized] = sync(get_settings(), store, n).lines
        assert "401 You are not authenticated" in unauthorized
        use(monkeypatch, WARROOM_JIRA_TOKEN=JIRA_TOKEN)
        assert len(sync(get_settings(), store, n).lines) == 2  # the incident and its action item, once
        assert sync(get_settings(), store, n).lines == []
        posted = [1 for m, p, _ in jira.calls("POST") if p == "/rest/api/3/issue"]
        assert len(posted) == 4  # refused for the project, refused the token, then the two made
    failures = [e.text for e in store.timeline(n) if e.kind == "tracker.failed"]
    assert len(failures) == 4 and not any(JIRA_TOKEN in f or "wrong-token" in f for f in failures)
    assert [i.status for i in store.action_items("INC-1")] == [ActionItemStatus.OPEN]


def test_every_tracker_module_is_registered() -> None:
    from tasks.trackers import TRACKERS
    from tests.conftest import REPO

    modules = {p.stem for p in (REPO / "tasks" / "trackers").glob("*.py")} - {"__init__", "base"}
    assert set(TRACKERS) == modules == {"generic", "github", "jira", "local"}


def test_a_json_rest_tracker_described_by_url_templates_takes_tasks_without_code(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GitScrum-shaped API: tasks under a project, subtasks under their task, answers wrapped in data."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str, str, dict[str, object] | None]] = []
    tasks: dict[str, dict[str, object]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append(("POST", self.path, body))
            uuid = f"t{len(tasks) + 1}"
            tasks[uuid] = {
                "uuid": uuid,
                "status": {"name": "To do"},
                "url": f"https://tracker.local/t/{uuid}",
            }
            self._answer(201, {"data": tasks[uuid]})

        def do_GET(self) -> None:
            got.append(("GET", self.path, None))
            self._answer(200, {"data": tasks[self.path.rsplit("/", 1)[-1]]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = {
        "url": f"http://127.0.0.1:{server.server_address[1]}/api/v1",
        "create": "/projects/ops/tasks",
        "subtask": "/tasks/{parent}/subtasks",
        "status": "/tasks/{key}",
        "key_field": "data.uuid",
        "url_field": "data.url",
        "done_field": "data.status.name",
        "done_values": ["Done"],
    }
    try:
        n = resolved_incident(store)
        use(monkeypatch, WARROOM_TRACKER="generic", WARROOM_GENERIC_TRACKER=json.dumps(config))
        assert sync(get_settings(), store, n).lines == [
            "INC-1: incident tracked as t1",
            "INC-1: action:1 tracked as t2",
        ]
        assert [(m, p) for m, p, _ in got] == [
            ("POST", "/api/v1/projects/ops/tasks"),
            ("POST", "/api/v1/tasks/t1/subtasks"),
            ("GET", "/api/v1/tasks/t2"),
        ]
        action = got[1][2] or {}
        assert (action["title"], action["assignee"], action["due"], action["parent"]) == (
            "Add canary deployment",
            "acct-bob",
            "2026-12-05",
            "t1",
        )
        tasks["t2"]["status"] = {"name": "Done"}
        assert sync(get_settings(), store, n).lines == ["INC-1: action item 1 done in generic"]
    finally:
        server.shutdown()
        server.server_close()
    [item] = store.action_items("INC-1")
    assert item.tracker_url == "https://tracker.local/t/t2"
