"""A loopback stand-in for AWS AppConfig's control API (rest-json), as botocore's service model and
AWS's documentation describe it: applications, configuration profiles, environments, hosted configuration
versions (with the Latest-Version-Number lock) and deployments (one at a time per environment). moto's
AppConfig has no environments, deployments, ListApplications or version listing, so the AppConfig flag
provider is tested against this instead; the SDK reaches it through AWS_ENDPOINT_URL_APPCONFIG."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass
class Version:
    number: int
    content: bytes
    content_type: str
    description: str


@dataclass
class Profile:
    id: str
    name: str
    versions: dict[int, Version] = field(default_factory=dict)


@dataclass
class Environment:
    id: str
    name: str
    deployments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class App:
    id: str
    name: str
    profiles: dict[str, Profile] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)


class AppConfigPeer:
    def __init__(self) -> None:
        self.apps: dict[str, App] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.deployments_finish = True  # False: a deployment stays DEPLOYING (the next one is refused)

    def _id(self) -> str:
        return uuid.uuid4().hex[:7]

    def seed(self, app: str, profile: str, environments: list[str], document: dict[str, Any]) -> None:
        """An application whose profile's version 1 holds ``document``, deployed to every environment."""
        a = App(self._id(), app)
        p = Profile(self._id(), profile)
        p.versions[1] = Version(1, json.dumps(document).encode(), "application/json", "seed")
        a.profiles[p.id] = p
        for name in environments:
            env = Environment(self._id(), name)
            a.environments[env.id] = env
            self._deploy(a, env, p, 1, "AppConfig.AllAtOnce", "seed")
        self.apps[a.id] = a

    def _deploy(
        self, a: App, env: Environment, p: Profile, version: int, strategy: str, why: str
    ) -> dict[str, Any]:
        deployment = {
            "ApplicationId": a.id,
            "EnvironmentId": env.id,
            "DeploymentStrategyId": strategy,
            "ConfigurationProfileId": p.id,
            "DeploymentNumber": len(env.deployments) + 1,
            "ConfigurationName": p.name,
            "ConfigurationLocationUri": "hosted",
            "ConfigurationVersion": str(version),
            "Description": why,
            "State": "COMPLETE" if self.deployments_finish else "DEPLOYING",
            "StartedAt": time.time(),
            "CompletedAt": time.time() if self.deployments_finish else None,
            "PercentageComplete": 100.0 if self.deployments_finish else 0.0,
        }
        env.deployments.append(deployment)
        return deployment

    def document(self, app: str, profile: str, environment: str) -> dict[str, Any]:
        """What is deployed to ``environment`` now."""
        a = next(x for x in self.apps.values() if x.name == app)
        p = next(x for x in a.profiles.values() if x.name == profile)
        env = next(x for x in a.environments.values() if x.name == environment)
        last = [d for d in env.deployments if d["ConfigurationProfileId"] == p.id][-1]
        return json.loads(p.versions[int(last["ConfigurationVersion"])].content)  # type: ignore[no-any-return]

    def versions(self, app: str, profile: str) -> list[int]:
        a = next(x for x in self.apps.values() if x.name == app)
        return sorted(next(x for x in a.profiles.values() if x.name == profile).versions)


class NotFound(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


_ROUTE = re.compile(
    r"^/applications(?:/(?P<app>[^/]+)(?:/(?P<coll>configurationprofiles|environments)(?:/(?P<sub>[^/]+)"
    r"(?:/(?P<kind>hostedconfigurationversions|deployments)(?:/(?P<num>[^/]+))?)?)?)?)?$"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _handle(self, method: str) -> None:
        peer = self.server.peer
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        path = urlsplit(self.path).path
        peer.requests.append(f"{method} {path}")
        try:
            with peer.lock:
                self._route(method, path, raw)
        except NotFound as exc:
            body = {"Message": str(exc), "ResourceType": "unknown"}
            self._send(404, json.dumps(body).encode(), {"x-amzn-ErrorType": "ResourceNotFoundException"})
        except Refused as exc:
            self._send(exc.status, json.dumps({"Message": str(exc)}).encode(), {"x-amzn-ErrorType": exc.code})

    def _route(self, method: str, path: str, raw: bytes) -> None:
        peer = self.server.peer
        m = _ROUTE.match(path)
        if not m:
            raise NotFound(f"no route {path}")
        if not m["app"]:
            self._json(200, {"Items": [{"Id": a.id, "Name": a.name} for a in peer.apps.values()]})
            return
        a = peer.apps.get(unquote(m["app"]))
        if a is None:
            raise NotFound(f"Application {m['app']} not found")
        if m["coll"] == "configurationprofiles" and not m["sub"]:
            items = [
                {
                    "ApplicationId": a.id,
                    "Id": p.id,
                    "Name": p.name,
                    "LocationUri": "hosted",
                    "Type": "AWS.AppConfig.FeatureFlags",
                }
                for p in a.profiles.values()
            ]
            self._json(200, {"Items": items})
            return
        if m["coll"] == "environments" and not m["sub"]:
            items = [
                {"ApplicationId": a.id, "Id": e.id, "Name": e.name, "State": "READY_FOR_DEPLOYMENT"}
                for e in a.environments.values()
            ]
            self._json(200, {"Items": items})
            return
        if m["coll"] == "configurationprofiles" and m["kind"] == "hostedconfigurationversions":
            p = a.profiles.get(m["sub"])
            if p is None:
                raise NotFound(f"ConfigurationProfile {m['sub']} not found")
            self._versions(method, a, p, m["num"], raw)
            return
        if m["coll"] == "environments" and m["kind"] == "deployments" and not m["num"]:
            env = a.environments.get(m["sub"])
            if env is None:
                raise NotFound(f"Environment {m['sub']} not found")
            self._deployments(method, a, env, raw)
            return
        raise NotFound(f"no route {path}")

    def _version_headers(self, a: App, p: Profile, v: Version) -> dict[str, str]:
        return {
            "Application-Id": a.id,
            "Configuration-Profile-Id": p.id,
            "Version-Number": str(v.number),
            "Description": v.description,
            "Content-Type": v.content_type,
        }

    def _versions(self, method: str, a: App, p: Profile, num: str | None, raw: bytes) -> None:
        if method == "GET" and num:
            v = p.versions.get(int(num))
            if v is None:
                raise NotFound(f"Hosted configuration version {num} not found")
            self._send(200, v.content, self._version_headers(a, p, v))
        elif method == "GET":
            items = [
                {
                    "ApplicationId": a.id,
                    "ConfigurationProfileId": p.id,
                    "VersionNumber": v.number,
                    "Description": v.description,
                    "ContentType": v.content_type,
                }
                for v in sorted(p.versions.values(), key=lambda v: -v.number)
            ]
            self._json(200, {"Items": items})
        else:
            latest = max(p.versions, default=0)
            sent = self.headers.get("Latest-Version-Number")
            if sent is not None and int(sent) != latest:
                raise Refused(
                    409,
                    "ConflictException",
                    f"The latest version number is {latest}, not {sent}: another version was created",
                )
            v = Version(
                latest + 1,
                raw,
                self.headers.get("Content-Type", "application/octet-stream"),
                self.headers.get("Description", ""),
            )
            p.versions[v.number] = v
            self._send(201, v.content, self._version_headers(a, p, v))

    def _deployments(self, method: str, a: App, env: Environment, raw: bytes) -> None:
        peer = self.server.peer
        if method == "GET":
            items = [
                {
                    k: d[k]
                    for k in (
                        "DeploymentNumber",
                        "ConfigurationName",
                        "ConfigurationVersion",
                        "State",
                        "StartedAt",
                        "CompletedAt",
                        "PercentageComplete",
                    )
                    if d.get(k) is not None
                }
                for d in reversed(env.deployments)
            ]
            self._json(200, {"Items": items})
            return
        body = json.loads(raw or b"{}")
        running = [d for d in env.deployments if d["State"] == "DEPLOYING"]
        if running:
            raise Refused(
                409,
                "ConflictException",
                f"Deployment number {running[-1]['DeploymentNumber']} is already in progress",
            )
        p = a.profiles.get(body.get("ConfigurationProfileId", ""))
        if p is None or int(body.get("ConfigurationVersion", 0)) not in p.versions:
            raise NotFound("ConfigurationProfile or version not found")
        if not str(body.get("DeploymentStrategyId", "")).startswith("AppConfig."):
            raise Refused(
                400, "BadRequestException", f"DeploymentStrategy {body.get('DeploymentStrategyId')} not found"
            )
        deployment = peer._deploy(
            a,
            env,
            p,
            int(body["ConfigurationVersion"]),
            body["DeploymentStrategyId"],
            body.get("Description", ""),
        )
        self._json(201, deployment)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, peer: AppConfigPeer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peer = peer


@contextmanager
def running_appconfig() -> Iterator[tuple[AppConfigPeer, str]]:
    peer = AppConfigPeer()
    server = _Server(peer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield peer, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
