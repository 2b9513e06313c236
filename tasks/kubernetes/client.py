"""One connection to a cluster through the official client: kubeconfig, context or in-cluster config.

Every call has a timeout and comes back as plain JSON; API errors become a ``KubeError`` that says what
was refused (verb, resource, name, namespace) and why, without credentials.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from tasks.kubernetes.settings import KubeSettings
from warroom.redact import redact_text, register_secret
from warroom.settings import Settings, get_settings

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class KubeError(RuntimeError):
    """An API call that did not do what was asked; ``kind`` says which way it failed."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Target:
    """What a call is about, for error messages: ``patch deployments.apps "web" in namespace "prod"``."""

    verb: str
    resource: str
    name: str | None = None
    namespace: str | None = None

    def __str__(self) -> str:
        what = f'{self.resource} "{self.name}"' if self.name else self.resource
        return f"{self.verb} {what}" + (f' in namespace "{self.namespace}"' if self.namespace else "")


_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "invalid",
    429: "throttled",
}


def _server_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or b"{}")
        return str(body.get("message") or exc.reason or "")
    except (ValueError, AttributeError):
        return str(exc.body or exc.reason or "")[:300]


def error_for(exc: ApiException, target: Target) -> KubeError:
    status = int(exc.status or 0)
    said = redact_text(_server_message(exc))
    if status == 0:
        return KubeError("unreachable", f"cannot {target}: {redact_text(str(exc.reason))[:300]}")
    kind = _KINDS.get(status, "server_error" if status >= 500 else "api_error")
    if kind == "not_found":
        message = f'not found: {target.resource} "{target.name}"' + (
            f' in namespace "{target.namespace}"' if target.namespace else ""
        )
        if said and target.name and target.name not in said:
            message += f" ({said})"
    elif kind == "forbidden":
        message = f"forbidden: not allowed to {target} (the API server said: {said})"
    elif kind == "unauthorized":
        message = f"unauthorized: the API server did not accept Warroom's credentials to {target}"
    elif kind == "conflict":
        message = f"conflict: {target} (someone else changed it meanwhile: {said})"
    else:
        message = f"{target} failed with HTTP {status}: {said}"
    return KubeError(kind, message, status)


class Kube:
    """The typed API groups of one ApiClient, called with a timeout, answering JSON."""

    def __init__(self, api: k8s.ApiClient, timeout: float, where: str) -> None:
        self.api = api
        self.timeout = timeout
        self.where = where
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.autoscaling = k8s.AutoscalingV2Api(api)

    def call(
        self, target: Target, method: Callable[..., Any], *args: Any, text: bool = False, **kwargs: Any
    ) -> Any:
        try:
            response = method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
            data = response.data
        except ApiException as exc:
            raise error_for(exc, target) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            kind = "timeout" if "timed out" in str(exc).lower() else "unreachable"
            raise KubeError(
                kind, f"cannot {target}: the API server at {self.where} did not answer ({type(exc).__name__})"
            ) from None
        if text:
            return data.decode("utf-8", errors="replace")
        return json.loads(data) if data else {}


_clients: dict[tuple[Any, ...], Kube] = {}
_lock = threading.Lock()


def _kubeconfig_files(settings: Settings) -> list[Path]:
    kube_settings = settings.of(KubeSettings)
    if kube_settings.kubeconfig:
        return [Path(p).expanduser() for p in kube_settings.kubeconfig.split(":") if p]
    default = Path("~/.kube/config").expanduser()
    return [default] if default.exists() else []


def _in_cluster(settings: Settings) -> k8s.Configuration:
    configuration = k8s.Configuration()
    kube = settings.of(KubeSettings)
    sa = kube.serviceaccount_dir
    InClusterConfigLoader(
        token_filename=str(sa / "token"),
        cert_filename=str(sa / "ca.crt"),
        environ={
            "KUBERNETES_SERVICE_HOST": kube.service_host or "",
            "KUBERNETES_SERVICE_PORT": kube.service_port or "443",
        },
    ).load_and_set(configuration)
    return configuration


def connect(context: str | None = None, settings: Settings | None = None) -> Kube:
    """The client for ``context`` (default: the kube_context setting, then the kubeconfig's current one).

    Kubeconfig when one exists (``KUBECONFIG``/``WARROOM_KUBECONFIG``, else ``~/.kube/config``); otherwise
    the in-cluster service account. Clients are kept per configuration so a run reuses its connections.
    """
    settings = settings or get_settings()
    kube_settings = settings.of(KubeSettings)
    context = context or kube_settings.context
    files = [f for f in _kubeconfig_files(settings) if f.exists()]
    if files:
        key: tuple[Any, ...] = ("kubeconfig", context, *((str(f), f.stat().st_mtime_ns) for f in files))
    elif kube_settings.service_host:
        token = kube_settings.serviceaccount_dir / "token"
        key = (
            "in-cluster",
            kube_settings.service_host,
            token.stat().st_mtime_ns if token.exists() else 0,
        )
    else:
        raise KubeError(
            "no_config",
            "no Kubernetes configuration: set KUBECONFIG (or WARROOM_KUBECONFIG), create ~/.kube/config, "
            "or run in a pod with a service account",
        )
    with _lock:
        if key in _clients:
            return _clients[key]
        try:
            if key[0] == "kubeconfig":
                configuration = k8s.Configuration()
                k8s_config.load_kube_config(
                    config_file=":".join(str(f) for f in files),
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                configuration = _in_cluster(settings)
        except (ConfigException, OSError, ValueError) as exc:
            raise KubeError(
                "no_config", f"Kubernetes configuration refused: {redact_text(str(exc))}"
            ) from None
        configuration.retries = 1
        credential = str(configuration.api_key.get("authorization") or "")
        register_secret(credential[7:] if credential[:7].lower() == "bearer " else credential)
        kube = Kube(k8s.ApiClient(configuration), kube_settings.timeout, configuration.host)
        _clients[key] = kube
        return kube
