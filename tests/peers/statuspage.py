"""A loopback stand-in for Atlassian Statuspage's REST API v1 as its reference describes it: `Authorization:
OAuth KEY`, pages, components (with their statuses), incidents created with `POST` and updated with `PATCH`
(each update an `incident_updates` entry; `components` sets the components' statuses), `{"error": ...}`
bodies, 401 for a wrong key, 404 for an unknown page or incident, 422 for an invalid status or component,
and 429 with `Retry-After` when a test asks for the rate limit."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.peers import serve_json

API_KEY = "statuspage-test-key-0123456789"
PAGE = "pg1warroom"
INCIDENT_STATES = {"investigating", "identified", "monitoring", "resolved"}
COMPONENT_STATES = {
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class StatuspagePeer:
    url: str = ""
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    refuse: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)  # next answers, in order
    down: bool = False  # every call answers 503 (an outage of Statuspage)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_component(self, name: str) -> str:
        cid = uuid.uuid4().hex[:12]
        self.components[cid] = {
            "id": cid,
            "page_id": PAGE,
            "name": name,
            "status": "operational",
            "group": False,
        }
        return cid

    def status_of(self, name: str) -> str:
        return next(c["status"] for c in self.components.values() if c["name"] == name)

    def route(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        # Retry-After 0: waiting out a vendor's answers is tested with the trackers, not waited for here.
        if self.down:
            return 503, {"Retry-After": "0"}, {"error": "Service Unavailable"}
        if headers.get("Authorization") != f"OAuth {API_KEY}":
            return 401, {}, {"error": "Could not authenticate"}
        parts = path.strip("/").split("/")  # v1 pages PAGE [components|incidents [ID]]
        if parts[:2] != ["v1", "pages"] or len(parts) < 3:
            return 404, {}, {"error": "Not found"}
        if parts[2] != PAGE:
            return 404, {}, {"error": "Page not found"}
        rest = parts[3:]
        if not rest and method == "GET":
            return 200, {}, {"id": PAGE, "name": "Warroom test page"}
        if rest == ["components"] and method == "GET":
            return 200, {}, list(self.components.values())
        if rest[:1] == ["incidents"]:
            return self._incidents(method, rest[1:], body)
        return 404, {}, {"error": "Not found"}

    def _incidents(self, method: str, rest: list[str], body: Any) -> tuple[int, dict[str, str], Any]:
        given = (body or {}).get("incident") or {}
        status = given.get("status")
        if status is not None and status not in INCIDENT_STATES:
            return 422, {}, {"error": f"Status is not included in the list ({status})"}
        for cid, state in (given.get("components") or {}).items():
            if cid not in self.components:
                return 422, {}, {"error": f"Component {cid} not found"}
            if state not in COMPONENT_STATES:
                return 422, {}, {"error": f"Component status {state} is invalid"}
        if method == "POST" and not rest:
            if not given.get("name"):
                return 422, {}, {"error": "Name can't be blank"}
            iid = uuid.uuid4().hex[:12]
            self.incidents[iid] = {
                "id": iid,
                "page_id": PAGE,
                "name": given["name"],
                "status": status or "investigating",
                "created_at": _now(),
                "incident_updates": [],
                "component_ids": list(given.get("component_ids") or []),
            }
            self._update(iid, given)
            return 201, {}, self.incidents[iid]
        if method == "PATCH" and len(rest) == 1:
            if rest[0] not in self.incidents:
                return 404, {}, {"error": "Incident not found"}
            self._update(rest[0], given)
            return 200, {}, self.incidents[rest[0]]
        return 404, {}, {"error": "Not found"}

    def _update(self, iid: str, given: dict[str, Any]) -> None:
        incident = self.incidents[iid]
        affected = []
        for cid, state in (given.get("components") or {}).items():
            component = self.components[cid]
            affected.append(
                {
                    "code": cid,
                    "name": component["name"],
                    "old_status": component["status"],
                    "new_status": state,
                }
            )
            component["status"] = state
        if given.get("status"):
            incident["status"] = given["status"]
        incident["incident_updates"].insert(
            0,
            {
                "id": uuid.uuid4().hex[:12],
                "status": incident["status"],
                "body": given.get("body") or "",
                "created_at": _now(),
                "affected_components": affected,
                "deliver_notifications": given.get("deliver_notifications", True),
            },
        )


@contextmanager
def running_statuspage() -> Iterator[StatuspagePeer]:
    yield from serve_json(StatuspagePeer(), StatuspagePeer.route, prefix="/v1")
