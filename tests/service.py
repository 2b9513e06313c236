"""A loopback service for end-to-end runs: unhealthy until it is scaled up far enough."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServiceState:
    replicas: int = 2
    healthy_at: int = 4
    fail_scale: bool = False
    decline_scale: bool = False  # the admin endpoint answers 409: it would not scale now, nothing changed
    hang_scale: bool = False  # the admin endpoint takes the request and never answers (a run dies meanwhile)
    scale_received: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    scale_calls: list[int] = field(default_factory=list)
    scale_arrivals: list[float] = field(default_factory=list)  # time.time() of each scale request
    health_arrivals: list[float] = field(default_factory=list)  # time.time() of each health check
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def healthy(self) -> bool:
        return self.replicas >= self.healthy_at


class _Handler(BaseHTTPRequestHandler):
    state: ServiceState

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict[str, object]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.state.health_arrivals.append(time.time())
            ok = self.state.healthy
            self._send(200 if ok else 503, {"healthy": ok, "replicas": self.state.replicas})
        elif self.path == "/replicas":
            self._send(200, {"replicas": self.state.replicas})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/scale":
            with self.state.lock:
                self.state.scale_calls.append(int(body["replicas"]))
                self.state.scale_arrivals.append(time.time())
            self.state.scale_received.set()
            if self.state.hang_scale:
                self.state.released.wait(120)
                return
            with self.state.lock:
                if self.state.fail_scale:
                    self._send(500, {"error": "scale failed: quota exceeded"})
                    return
                if self.state.decline_scale:
                    self._send(409, {"error": "a rollout is in progress; not scaling"})
                    return
                self.state.replicas = int(body["replicas"])
            self._send(200, {"replicas": self.state.replicas})
        else:
            self._send(404, {"error": "not found"})


@contextmanager
def running_service(state: ServiceState | None = None) -> Iterator[tuple[str, ServiceState]]:
    st = state or ServiceState()
    handler = type("Handler", (_Handler,), {"state": st})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", st
    finally:
        st.released.set()
        server.shutdown()
        server.server_close()
