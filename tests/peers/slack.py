"""A loopback stand-in for Slack's Web API, answering as Slack documents it, for `slack_sdk` pointed at it
with ``base_url``: the bot token checked on every call (``not_authed``, ``invalid_auth``), the scopes it was
granted in ``auth.test``'s ``x-oauth-scopes`` header, channel names checked as Slack checks them, Slack's
error words (``name_taken``, ``channel_not_found``, ``already_in_channel``, ``thread_not_found``,
``message_not_found``, ``already_pinned``, ``too_long``), and rate limits: a method's tier per minute and
``chat.postMessage``'s one message per second per channel (a short burst allowed), answered 429 with
``Retry-After`` and ``ratelimited``. Arguments are read as Slack reads them: a form, a query or JSON.

It also signs interactions (a button pressed) the way Slack signs them for the receiver's /slack/actions.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

TOKEN = "xoxb-warroom-test-token"
SIGNING_SECRET = "warroom-test-signing-secret"
ALL_SCOPES = ("channels:manage", "channels:read", "chat:write", "pins:write")
# Calls a minute per method, by Slack's tiers (Tier 2: 20, Tier 3: 50); chat.postMessage is per channel.
TIERS = {
    "conversations.create": 20,
    "conversations.invite": 50,
    "conversations.setTopic": 50,
    "conversations.info": 100,
    "pins.add": 20,
    "chat.update": 50,
    "chat.postEphemeral": 100,
    "views.open": 100,
}
TRIGGER_SECONDS = 3.0  # a click's trigger_id opens a modal within three seconds, once
BLOCK_TYPES = {"section", "actions", "context", "divider", "header", "input"}
BURST = 3  # chat.postMessage: this many within one second in a channel, then 429
NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


@dataclass
class Channel:
    id: str
    name: str
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    pins: list[str] = field(default_factory=list)


class SlackPeer:
    def __init__(self, scopes: tuple[str, ...] = ALL_SCOPES) -> None:
        self.url = ""
        self.scopes = scopes
        self.down = False  # every call answered 503, as Slack does in an outage
        self.tiers = dict(TIERS)  # calls a minute per method; a test may make one tighter
        self.stall = 0.0  # seconds every call waits before its answer (a slow Slack, a congested link)
        self.posts: list[dict[str, Any]] = []  # every chat.postMessage accepted, as sent
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every call accepted
        self.limited: list[str] = []  # the methods answered 429
        self.channels: dict[str, Channel] = {}
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral: what one person was told
        self.views: dict[str, dict[str, Any]] = {}  # views.open: view id -> the view, with its user
        self._triggers: dict[str, tuple[float, str]] = {}  # trigger id -> (issued, user)
        self._ids = itertools.count(1)
        self._window: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def messages_to(self, user: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p.get("channel") == user]

    def channel_named(self, name: str) -> Channel:
        [found] = [c for c in self.channels.values() if c.name == name]
        return found

    def add_channel(self, name: str) -> Channel:
        channel = Channel(f"C{next(self._ids):08d}", name)
        self.channels[channel.id] = channel
        return channel

    def _limited(self, key: str, per: float, most: int) -> int:
        """0 when the call may go; else the seconds until it may (Retry-After)."""
        now = time.monotonic()
        window = self._window[key]
        while window and window[0] <= now - per:
            window.popleft()
        if len(window) >= most:
            return max(1, math.ceil(window[0] + per - now))
        window.append(now)
        return 0

    def answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
        """Status, body and (for a 429) the Retry-After seconds."""
        with self._lock:
            wait = self._limited(method, 60, self.tiers[method]) if method in self.tiers else 0
            if not wait and method == "chat.postMessage":
                wait = self._limited(f"post:{args.get('channel')}", 1, BURST)
            if wait:
                self.limited.append(method)
                return 429, {"ok": False, "error": "ratelimited"}, wait
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method"}, 0
            said = handler(args)
            if said.get("ok"):
                self.calls.append((method, args))
            return 200, said, 0

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team": "Warroom Test", "user_id": "UBOT", "bot_id": "BBOT"}

    def _find(self, args: dict[str, Any]) -> Channel | None:
        return self.channels.get(str(args.get("channel", "")))

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if len(name) > 80:
            return {"ok": False, "error": "invalid_name_maxlength"}
        if not NAME.match(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = self.add_channel(name)
        channel.members.add("UBOT")
        return {"ok": True, "channel": {"id": channel.id, "name": name, "is_channel": True}}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {"id": channel.id, "name": channel.name, "topic": {"value": channel.topic}},
        }

    def _conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        topic = str(args.get("topic", ""))
        if len(topic) > 250:
            return {"ok": False, "error": "too_long"}
        channel.topic = topic
        return {"ok": True, "channel": {"id": channel.id, "topic": {"value": topic}}}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        if all(u in channel.members for u in users):
            return {"ok": False, "error": "already_in_channel"}
        channel.members.update(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        target = str(args.get("channel", ""))
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if "blocks" in args and _bad_blocks(args["blocks"]):
            return {"ok": False, "error": "invalid_blocks"}
        ts = f"{time.time():.6f}"
        while any(ts in c.messages for c in self.channels.values()):
            ts = f"{float(ts) + 0.000001:.6f}"
        self.posts.append(args)
        if target.startswith("U"):  # a direct message to a person
            return {"ok": True, "channel": f"D{target}", "ts": ts}
        channel = self.channels.get(target)
        if target.startswith("#"):  # Slack takes a channel's name as well as its id
            channel = next((c for c in self.channels.values() if c.name == target[1:]), None)
        if channel is None:
            self.posts.pop()
            return {"ok": False, "error": "channel_not_found"}
        thread = args.get("thread_ts")
        if thread and thread not in channel.messages:
            self.posts.pop()
            return {"ok": False, "error": "thread_not_found"}
        channel.messages[ts] = {
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": _blocks(args.get("blocks")),
            "thread_ts": thread,
            "edits": 0,
        }
        return {"ok": True, "channel": channel.id, "ts": ts}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        message = channel.messages.get(str(args.get("ts", "")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if "blocks" in args and _bad_blocks(args["blocks"]):
            return {"ok": False, "error": "invalid_blocks"}
        message["text"] = args.get("text", "")
        if "blocks" in args:
            message["blocks"] = _blocks(args["blocks"])
        message["edits"] += 1
        return {"ok": True, "channel": channel.id, "ts": message["ts"]}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._find(args) is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": f"{time.time():.6f}"}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if time.monotonic() - issued[0] > TRIGGER_SECONDS:
            return {"ok": False, "error": "expired_trigger_id"}
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or _bad_view(view):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = f"V{uuid.uuid4().hex[:12].upper()}"  # unique across workspaces, as Slack's are
        self.views[view_id] = {**view, "id": view_id, "user": issued[1]}
        return {"ok": True, "view": {**view, "id": view_id}}

    def press(self, user: str, channel: str, text_has: str, action_id: str) -> tuple[bytes, dict[str, str]]:
        """``user`` presses the button ``action_id`` of the message in ``channel`` whose text has
        ``text_has``: the signed block_actions Slack sends, with a fresh trigger id."""
        [message] = [
            m for m in self.channel_found(channel).messages.values() if text_has in json.dumps(m["blocks"])
        ]
        [(block, button)] = [
            (b, e)
            for b in message["blocks"]
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("action_id") == action_id
        ]
        trigger = f"{next(self._ids)}.{int(time.time())}.{hashlib.sha256(user.encode()).hexdigest()[:16]}"
        with self._lock:
            self._triggers[trigger] = (time.monotonic(), user)
        payload = {
            "type": "block_actions",
            "team": {"id": "T0WARROOM", "domain": "warroom"},
            "user": {"id": user, "team_id": "T0WARROOM"},
            "api_app_id": "A0WARROOM",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel},
            "trigger_id": trigger,
            "channel": {"id": channel, "name": self.channel_found(channel).name},
            "message": {"ts": message["ts"], "text": message["text"]},
            "response_url": "https://hooks.slack.invalid/actions/1",
            "actions": [{**button, "block_id": block.get("block_id"), "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return body, {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}

    def submit(
        self, view_id: str, values: dict[str, str], user: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The signed view_submission Slack sends when the modal is submitted with ``values`` by block id
        (a required input left empty cannot be submitted in Slack, so it is an error here)."""
        view = self.views[view_id]
        state: dict[str, Any] = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            said = values.get(block["block_id"], "")
            if not said and not block.get("optional"):
                raise AssertionError(f"Slack would not submit: {block['block_id']} is required")
            action = block["element"]["action_id"]
            state[block["block_id"]] = {action: {"type": block["element"]["type"], "value": said or None}}
        payload = {
            "type": "view_submission",
            "team": {"id": "T0WARROOM", "domain": "warroom"},
            "user": {"id": user or view["user"], "team_id": "T0WARROOM"},
            "api_app_id": "A0WARROOM",
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": view.get("callback_id"),
                "private_metadata": view.get("private_metadata", ""),
                "hash": hashlib.sha256(view_id.encode()).hexdigest()[:20],
                "state": {"values": state},
            },
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return body, {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}

    def channel_found(self, channel: str) -> Channel:
        return self.channels[channel]

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(args.get("timestamp", ""))
        if ts not in channel.messages:
            return {"ok": False, "error": "message_not_found"}
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.append(ts)
        return {"ok": True}


def _blocks(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return list(raw or [])


def _bad_blocks(raw: Any) -> bool:
    """Blocks as Slack refuses them (``invalid_blocks``): too many, an unknown type, a section's text past
    3000 characters, a button's text past 75 or value past 2000, an action id past 255."""
    try:
        blocks = _blocks(raw)
    except json.JSONDecodeError:
        return True
    if len(blocks) > 50:
        return True
    for block in blocks:
        if block.get("type") not in BLOCK_TYPES:
            return True
        if block["type"] == "section" and len((block.get("text") or {}).get("text", "")) > 3000:
            return True
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("type") == "button" and (
                len(element["text"]["text"]) > 75
                or len(element.get("value", "")) > 2000
                or len(element.get("action_id", "")) > 255
            ):
                return True
    return False


def _bad_view(view: dict[str, Any]) -> bool:
    """A modal as views.open refuses it: title and buttons past 24 characters, metadata past 3000, more than
    100 blocks, an input without a label or an element."""
    if view.get("type") != "modal" or len(view.get("blocks", [])) > 100:
        return True
    for part in ("title", "submit", "close"):
        if part in view and len(view[part].get("text", "")) > 24:
            return True
    if len(view.get("private_metadata", "")) > 3000 or len(view.get("callback_id", "")) > 255:
        return True
    inputs = [b for b in view.get("blocks", []) if b.get("type") == "input"]
    if any("label" not in b or "element" not in b or len(b["label"].get("text", "")) > 2000 for b in inputs):
        return True
    return _bad_blocks([b for b in view.get("blocks", []) if b.get("type") != "input"])


def signed(body: bytes, at: float | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """The headers Slack signs a request to an app with: ``v0=`` HMAC-SHA256 of ``v0:TIMESTAMP:BODY``."""
    stamp = str(int(at or time.time()))
    signature = (
        "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    )
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


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
    return body, {"Content-Type": "application/x-www-form-urlencoded", **signed(body, at, secret)}


def signed_message(
    channel: str, user: str, text: str, *, event_id: str, thread: str | None = None, **extra: Any
) -> tuple[bytes, dict[str, str]]:
    """The Events API callback Slack sends for a message posted in ``channel`` (as the app subscribes to
    ``message.channels``)."""
    message = {"type": "message", "channel": channel, "user": user, "text": text, "ts": f"{time.time():.6f}"}
    if thread:
        message["thread_ts"] = thread
    message.update(extra)
    body = json.dumps(
        {"type": "event_callback", "team_id": "T0WARROOM", "event_id": event_id, "event": message}
    ).encode()
    return body, {"Content-Type": "application/json", **signed(body)}


def signed_command(user: str, text: str, channel: str) -> tuple[bytes, dict[str, str]]:
    """The form POST Slack sends when ``user`` types ``/warroom TEXT`` in ``channel``."""
    body = urlencode(
        {
            "team_id": "T0WARROOM",
            "channel_id": channel,
            "user_id": user,
            "command": "/warroom",
            "text": text,
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "1.2.3",
        }
    ).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}


def _arguments(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    raw = handler.rfile.read(int(handler.headers.get("Content-Length", 0) or 0))
    args: dict[str, Any] = dict(parse_qsl(urlsplit(handler.path).query))
    kind = handler.headers.get("Content-Type", "")
    if raw and kind.startswith("application/json"):
        args.update(json.loads(raw))
    elif raw:
        args.update(parse_qsl(raw.decode()))
    return args


@contextmanager
def running_slack(scopes: tuple[str, ...] = ALL_SCOPES) -> Iterator[SlackPeer]:
    peer = SlackPeer(scopes)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            method = urlsplit(self.path).path.rsplit("/", 1)[-1]
            args = _arguments(self)
            time.sleep(peer.stall)
            given = self.headers.get("Authorization") or (
                f"Bearer {args['token']}" if "token" in args else ""
            )
            if peer.down:
                self._send(503, {"ok": False, "error": "service_unavailable"}, {})
            elif not given:
                self._send(200, {"ok": False, "error": "not_authed"}, {})
            elif given != f"Bearer {TOKEN}":
                self._send(200, {"ok": False, "error": "invalid_auth"}, {})
            else:
                status, answer, wait = peer.answer(method, args)
                headers = {"Retry-After": str(wait)} if status == 429 else {}
                if method == "auth.test":
                    headers["x-oauth-scopes"] = ",".join(peer.scopes)
                self._send(status, answer, headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
