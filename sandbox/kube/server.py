"""The HTTP side: legacy discovery, the resource paths, bearer tokens with per-verb rules, ``dryRun=All``."""

from __future__ import annotations

import json
import re
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.kube.access import Identity
from sandbox.kube.api import KINDS, WRITABLE, ApiError, _qualified, field_matcher, label_matcher
from sandbox.kube.controllers import FakeCluster
from sandbox.kube.patch import apply_patch

# --- HTTP ------------------------------------------------------------------------------------------


def _discovery() -> dict[str, list[dict[str, Any]]]:
    """The resource lists of legacy discovery, per group/version: what this server serves, no more."""
    by_version: dict[str, list[dict[str, Any]]] = {}
    for resource, kind in KINDS.items():
        verbs = ["get", "list"] + (["create", "update", "patch", "delete"] if resource in WRITABLE else [])
        by_version.setdefault(kind.api_version, []).append(
            {
                "name": resource,
                "singularName": kind.singular,
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": verbs,
                "shortNames": list(kind.short),
                **(
                    {"categories": ["all"]}
                    if resource in ("deployments", "replicasets", "pods", "horizontalpodautoscalers")
                    else {}
                ),
            }
        )
        for sub in kind.subresources:
            entry: dict[str, Any] = {
                "name": f"{resource}/{sub}",
                "singularName": "",
                "namespaced": True,
                "kind": kind.kind,
                "verbs": ["get", "patch", "update"],
            }
            if sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale")
            if sub == "log":
                entry.update(kind="Pod", verbs=["get"])
            by_version[kind.api_version].append(entry)
    return by_version


class KubeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cluster: FakeCluster, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = cluster
        self.ssl_context = context
        self.discovery = _discovery()

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up (a timeout test) is fine
            super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]


_NS_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[a-z0-9.]+)/(?P<v>v[0-9a-z]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)


class _Handler(BaseHTTPRequestHandler):
    server: KubeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> int:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(raw)
        return len(raw)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _identity(self) -> Identity:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""  # the scheme is case-insensitive
        identity = self.server.cluster.identities.get(token)
        if identity is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return identity

    def _handle(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with cluster.lock:
            cluster.requests.append((method, url.path))
            cluster.queries.append(url.query)
        started = time.perf_counter()
        if url.path.startswith(("/api/", "/apis/")) and url.path.count("/") > 3:
            time.sleep(cluster.stall.get(method, 0.0))  # a slow API server (or one behind a dead LB)
        try:
            identity = self._identity()
            code, body, ctype = self._route(method, url.path, query, raw, identity)
        except ApiError as exc:
            code, body, ctype = exc.code, exc.status(), "application/json"
        size = self._send(code, body, ctype)
        with cluster.lock:
            cluster.server_seconds += time.perf_counter() - started
            cluster.response_bytes += size
        for hook in list(cluster.after_request):
            hook(method, url.path)

    def _route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, identity: Identity
    ) -> tuple[int, Any, str]:
        cluster = self.server.cluster
        discovery = self.server.discovery
        if method == "GET":
            if path == "/version":
                return (
                    200,
                    {
                        "major": "1",
                        "minor": "32",
                        "gitVersion": "v1.32.4-warroom-test",
                        "platform": "linux/amd64",
                    },
                    "application/json",
                )
            if path == "/api":
                return (
                    200,
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {
                                "clientCIDR": "0.0.0.0/0",
                                "serverAddress": f"127.0.0.1:{self.server.server_address[1]}",
                            }
                        ],
                    },
                    "application/json",
                )
            if path == "/apis":
                groups: dict[str, list[str]] = {}
                for kind in KINDS.values():
                    if kind.group and kind.version not in groups.setdefault(kind.group, []):
                        groups[kind.group].append(kind.version)
                return (
                    200,
                    {
                        "kind": "APIGroupList",
                        "apiVersion": "v1",
                        "groups": [
                            {
                                "name": g,
                                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                            }
                            for g, vs in sorted(groups.items())
                        ],
                    },
                    "application/json",
                )
            gv = (
                path.removeprefix("/apis/").removeprefix("/api/")
                if path.startswith(("/apis/", "/api/"))
                else ""
            )
            if gv in discovery and path in (f"/api/{gv}", f"/apis/{gv}"):
                return (
                    200,
                    {
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": gv,
                        "resources": discovery[gv],
                    },
                    "application/json",
                )
        m = _NS_PATH.match(path)
        if not m:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group = m.group("g") or ""
        version = m.group("cv") or m.group("v")
        ns, resource, name, sub = m.group("ns"), m.group("res"), m.group("name"), m.group("sub")
        found = KINDS.get(resource)
        if found is None or found.group != group or found.version != version:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind = found
        name = unquote(name) if name else None
        verb = {
            "GET": "get" if name else "list",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }[method]
        if query.get("watch") in ("true", "1"):
            verb = "watch"
        target = f"{resource}/{sub}" if sub else resource
        if not any(rule.allows(verb, target) for rule in identity.rules):
            what = f'{_qualified(resource)} "{name}"' if name else _qualified(resource)
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            raise ApiError(
                403,
                "Forbidden",
                f'{what} is forbidden: User "{identity.user}" cannot {verb} resource "{target}" '
                f'in API group "{group}"{where}',
                {"name": name or "", "group": group, "kind": resource},
            )
        if verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "watch is not served by the test API server")
        dry_run = False
        if "dryRun" in query:
            if query["dryRun"] != "All":
                raise ApiError(
                    400,
                    "BadRequest",
                    f'invalid dry run option: {query["dryRun"]!r}; the only allowed value is "All"',
                )
            dry_run = True
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(
                    400, "BadRequest", "the body of the request could not be decoded as JSON"
                ) from None
        with cluster.lock:
            if sub == "log" and resource == "pods" and method == "GET":
                return 200, cluster.pod_log(ns or "", name or "", query), "text/plain"
            if sub == "scale" and name:
                if method == "GET":
                    return 200, cluster.scale_of(resource, ns or "", name), "application/json"
                if method == "PUT":
                    return (
                        200,
                        cluster.write_scale(resource, ns or "", name, body or {}, dry_run=dry_run),
                        "application/json",
                    )
                if method == "PATCH":
                    scale = apply_patch(
                        cluster.scale_of(resource, ns or "", name),
                        self.headers.get("Content-Type", "").split(";")[0],
                        body,
                    )
                    return (
                        200,
                        cluster.write_scale(resource, ns or "", name, scale, dry_run=dry_run),
                        "application/json",
                    )
            if sub is not None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if method == "GET" and name:
                return 200, cluster.get(resource, ns or "", name), "application/json"
            if method == "GET":
                match_labels = label_matcher(query.get("labelSelector"))
                match_fields = field_matcher(resource, query.get("fieldSelector"))
                items = [
                    o
                    for o in cluster.list(resource, ns)
                    if match_labels(o["metadata"].get("labels") or {}) and match_fields(o)
                ]
                for o in items:
                    o.pop("apiVersion", None)
                    o.pop("kind", None)
                return (
                    200,
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": kind.api_version,
                        "metadata": {"resourceVersion": str(cluster._rv)},
                        "items": items,
                    },
                    "application/json",
                )
            manager = query.get("fieldManager") or self.headers.get("User-Agent", "unknown").split("/")[0]
            if method == "POST":
                created = cluster.create(resource, ns or "", body or {}, dry_run=dry_run)
                return 201, cluster.managed(resource, created, manager, dry_run), "application/json"
            if method == "PUT" and name:
                updated = cluster.update(resource, ns or "", name, body or {}, dry_run=dry_run)
                return 200, cluster.managed(resource, updated, manager, dry_run), "application/json"
            if method == "PATCH" and name:
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                patched = cluster.patch(resource, ns or "", name, ctype, body, dry_run=dry_run)
                return 200, cluster.managed(resource, patched, manager, dry_run), "application/json"
            if method == "DELETE" and name:
                return 200, cluster.delete(resource, ns or "", name, dry_run=dry_run), "application/json"
        raise ApiError(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )
