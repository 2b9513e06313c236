"""A loopback peer that follows LaunchDarkly's documented REST API v2 for the calls Warroom makes:
``GET /api/v2/flags/{project}/{flag}?env=`` and ``PATCH`` with a semantic patch (``turnFlagOff`` /
``turnFlagOn``), its error bodies (``{"code", "message"}``), and rate limiting (429 with Retry-After)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "api-ld-test-token"
_PATH = re.compile(r"^/api/v2/flags/(?P<project>[^/]+)/(?P<flag>[^/]+)$")


@dataclass
class LaunchDarkly:
    """Projects -> flags -> environments -> on; plus what was asked of it."""

    flags: dict[tuple[str, str], dict[str, bool]] = field(
        default_factory=lambda: {("default", "new-checkout"): {"production": True, "staging": True}}
    )
    rate_limited: int = 0  # answer this many requests 429 first
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def flag_json(self, project: str, flag: str) -> dict[str, Any]:
        envs = self.flags[(project, flag)]
        return {
            "key": flag,
            "variations": [{"value": True, "name": "on"}, {"value": False, "name": "off"}],
            "environments": {
                env: {"on": on, "_lastModified": int(time.time() * 1000), "archived": False}
                for env, on in envs.items()
            },
        }


class _Handler(BaseHTTPRequestHandler):
    ld: LaunchDarkly

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _route(self) -> tuple[str, str] | None:
        if self.headers.get("Authorization") != TOKEN:
            self._send(401, {"code": "unauthorized", "message": "Invalid access token"})
            return None
        with self.ld.lock:
            if self.ld.rate_limited > 0:
                self.ld.rate_limited -= 1
                self._send(429, {"code": "rate_limited", "message": "Rate limited"}, {"Retry-After": "1"})
                return None
        m = _PATH.match(urlparse(self.path).path)
        if m is None or (m["project"], m["flag"]) not in self.ld.flags:
            self._send(404, {"code": "not_found", "message": "Unknown resource"})
            return None
        return m["project"], m["flag"]

    def do_GET(self) -> None:
        self.ld.requests.append(("GET", self.path, None))
        found = self._route()
        if found is None:
            return
        env = parse_qs(urlparse(self.path).query).get("env", [None])[0]
        body = self.ld.flag_json(*found)
        if env is not None:
            body["environments"] = {k: v for k, v in body["environments"].items() if k == env}
        self._send(200, body)

    def do_PATCH(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.ld.requests.append(("PATCH", self.path, body))
        found = self._route()
        if found is None:
            return
        if "domain-model=launchdarkly.semanticpatch" not in (self.headers.get("Content-Type") or ""):
            self._send(400, {"code": "invalid_request", "message": "expected a JSON patch"})
            return
        envs = self.ld.flags[found]
        env = body.get("environmentKey")
        if env not in envs:
            self._send(400, {"code": "invalid_request", "message": f"Unknown environment key: {env}"})
            return
        for instruction in body.get("instructions") or []:
            kind = instruction.get("kind")
            if kind not in ("turnFlagOn", "turnFlagOff"):
                self._send(400, {"code": "invalid_request", "message": f"unknown instruction {kind}"})
                return
            envs[env] = kind == "turnFlagOn"
        self._send(200, self.ld.flag_json(*found))


@contextmanager
def running_launchdarkly(ld: LaunchDarkly | None = None) -> Iterator[tuple[str, LaunchDarkly]]:
    state = ld or LaunchDarkly()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"ld": state}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
