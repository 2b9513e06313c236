"""Loopback peers for vendors that exist only as SaaS: each answers as the vendor's API documentation says
(paths, status codes, error bodies, rate limits) and records what Warroom sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit


class JsonPeer(Protocol):
    url: str
    requests: list[tuple[str, str, dict[str, str], Any]]
    refuse: list[tuple[int, dict[str, str], Any]]  # next answers, in order, whatever was asked
    lock: threading.Lock


P = TypeVar("P", bound=JsonPeer)


def serve_json(peer: P, route: Any, prefix: str = "") -> Iterator[P]:
    """``peer`` on a loopback port answering JSON: ``route(peer, method, path, headers, body)`` gives
    (status, headers, answer) for each request, recorded first; ``peer.url`` ends with ``prefix``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            body = json.loads(raw) if raw else None
            with peer.lock:
                peer.requests.append((method, self.path, dict(self.headers), body))
                if peer.refuse:
                    status, headers, answer = peer.refuse.pop(0)
                else:
                    status, headers, answer = route(
                        peer, method, urlsplit(self.path).path, dict(self.headers), body
                    )
            data = json.dumps(answer).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
