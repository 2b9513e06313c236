"""A loopback stand-in for Slack's Web API (chat.postMessage) that records what Warroom posts, and signs
interactions (a button pressed) the way Slack signs them for the receiver's /slack/actions."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

TOKEN = "xoxb-warroom-test-token"
SIGNING_SECRET = "warroom-test-signing-secret"


class SlackPeer:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.url = ""

    def messages_to(self, user: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p.get("channel") == user]


def signed_interaction(
    user: str, incident: str, at: float | None = None, secret: str = SIGNING_SECRET
) -> tuple[bytes, dict[str, str]]:
    """The form POST Slack sends when ``user`` presses the Acknowledge button of a page for ``incident``."""
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": "warroom_ack", "type": "button", "value": incident}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(at or time.time()))
    signature = (
        "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    )
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


@contextmanager
def running_slack() -> Iterator[SlackPeer]:
    peer = SlackPeer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                answer: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
            elif not self.path.endswith("/chat.postMessage"):
                answer = {"ok": False, "error": "unknown_method"}
            else:
                peer.posts.append(body)
                answer = {"ok": True, "channel": f"D{body.get('channel', '')}", "ts": f"{time.time():.6f}"}
            raw = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
