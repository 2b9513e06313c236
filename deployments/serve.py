"""How runbooks are served: one Prefect deployment per runbook (``respond/NAME``), with its params as the
UI form; and the local Prefect server of the embedded setup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.utilities.callables import ParameterSchema

from deployments.children import dying_with_parent
from deployments.desk import desk_deployments
from deployments.heap import settle
from deployments.launch_process import LaunchProcess, launch_loop
from deployments.prefect_database import database_kind, embedded_postgres
from deployments.template import ProcessTemplate
from flows.respond import respond
from warroom.duration import DURATION_PATTERN, format_duration
from warroom.home import local_prefect_url, prefect_auth, record_local_prefect
from warroom.intake.launcher import LaunchLoop
from warroom.intake.receiver import create_app
from warroom.intake.router import Router
from warroom.intake.slack_actions import SlackHandlers
from warroom.ledger import Store
from warroom.runbook import Catalogue, ParamType, Runbook, catalogue_of
from warroom.settings import Settings
from warroom.tls import tls_context

_JSON_TYPES = {
    ParamType.STRING: "string",
    ParamType.INTEGER: "integer",
    ParamType.NUMBER: "number",
    ParamType.BOOLEAN: "boolean",
    ParamType.DURATION: "string",
}


def parameter_schema(rb: Runbook) -> dict[str, Any]:
    """The custom-run form of ``respond/NAME`` in the Prefect UI: the runbook's params, typed, with their
    defaults as the form shows and accepts them (durations as ``2m``). A param the runbook takes from an
    alert and gives no default is required here: a person starting it has no alert to take it from.
    Nothing internal is on the form (``alert``, ``dedup_key``, ``requested_by`` stay run parameters the
    receiver and `warroom run` set; Prefect does not enforce this schema, the flow checks every value)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in rb.params.items():
        prop: dict[str, Any] = {"type": _JSON_TYPES[spec.type], "title": name}
        description = spec.description
        if spec.from_:
            description = f"{description} (an alert gives it: {spec.from_})".strip()
        if spec.type is ParamType.DURATION:
            description = f"{description} (e.g. 30s, 2m, 1h30m)".strip()
        if description:
            prop["description"] = description
        if spec.default is not None:
            prop["default"] = (
                format_duration(spec.default) if spec.type is ParamType.DURATION else spec.default
            )
        if spec.enum is not None:
            prop["enum"] = spec.enum
        if spec.pattern is not None:
            prop["pattern"] = f"^(?:{spec.pattern})$"
        if spec.type is ParamType.DURATION:
            prop["pattern"] = DURATION_PATTERN
        props[name] = prop
        if spec.default is None:
            required.append(name)
    return {
        "title": "Parameters",
        "type": "object",
        "properties": {
            "runbook": {
                "type": "string",
                "title": "runbook",
                "default": rb.name,
                "enum": [rb.name],
                "readOnly": True,
                "position": 0,
            },
            "params": {
                "type": "object",
                "title": "params",
                "description": rb.description.strip(),
                "properties": props,
                "required": required,
                "position": 1,
            },
        },
        "required": ["runbook", "params"] if required else ["runbook"],
        "definitions": {},
    }


def build_deployments(
    catalogue: Catalogue, entrypoint_type: EntrypointType = EntrypointType.FILE_PATH
) -> list[RunnerDeployment]:
    """Every runbook as ``respond/NAME``, plus the desk's own deployments (deployments/desk.py)."""
    out = []
    for loaded in catalogue.ordered():
        rb = loaded.runbook
        deployment: Any = respond.to_deployment(
            name=rb.name,
            description=rb.description.strip(),
            parameters={"runbook": rb.name, "params": {}},
            tags=[f"runbook:{rb.name}"],
            entrypoint_type=entrypoint_type,
            # The form above is for people; alert starts carry their params in the alert, which the flow
            # resolves and checks itself (every wrong value named), so Prefect does not enforce the form.
            enforce_parameter_schema=False,
            # No event trigger: anyone who reaches Prefect's events API could start a runbook "by alert".
            # Alerts start runbooks only through the receiver, which authenticates them and keeps the body.
            # No concurrency limit: Prefect gives a limited run a lease that it drops while the run is
            # paused, and the run then crashes renewing it (~4 minutes in). A gate waits for hours.
        )
        deployment._parameter_openapi_schema = ParameterSchema(**parameter_schema(rb))
        out.append(deployment)
    out += desk_deployments(entrypoint_type)
    return out


# --- the embedded Prefect server ---------------------------------------------------------------------


def _healthy(url: str, auth: str | None = None) -> bool:
    basic = tuple(auth.split(":", 1)) if auth and ":" in auth else None
    try:
        answer = httpx.get(f"{url}/health", timeout=2, auth=basic, verify=tls_context())  # type: ignore[arg-type]
        return answer.status_code == 200
    except httpx.HTTPError:
        return False


def local_auth(settings: Settings) -> str:
    """The basic-auth ``user:password`` of the Prefect server Warroom starts (always guarded)."""
    configured = settings.prefect_auth.get_secret_value() if settings.prefect_auth else None
    return prefect_auth(settings.home, configured)


@contextmanager
def local_prefect_server(settings: Settings, log: Path | None = None) -> Iterator[str]:
    """Start ``prefect server start`` (its data under $WARROOM_HOME/prefect, on the database
    ``database_kind`` says); yield its API URL; stop it."""
    url = local_prefect_url(settings)
    if _healthy(url):
        raise RuntimeError(
            f"something already answers on {url}; set PREFECT_API_URL to use it, or another port"
        )
    home = settings.home / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": settings.prefect_host,
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": url,
    }
    auth = local_auth(settings)
    env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    env.pop("PREFECT_API_URL", None)
    with ExitStack() as stack:
        kind = database_kind(settings)
        if kind == "postgres":
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = stack.enter_context(embedded_postgres(settings))
        elif kind == "sqlite":
            # Longer than Prefect's 10 s: a write waits for the lock rather than failing on a loaded host.
            env.setdefault("PREFECT_SERVER_DATABASE_TIMEOUT", "60")
        served = _serve_prefect(url, auth, env, log or home / "server.log", settings)
        answering = next(served)
        record_local_prefect(settings, answering)  # healthy: the other terminals find it from here on
        try:
            yield answering
        finally:
            record_local_prefect(settings, None)
            served.close()  # stops the server


def _serve_prefect(
    url: str, auth: str, env: dict[str, str], log: Path, settings: Settings
) -> Generator[str, None, None]:
    out = open(log, "ab")  # lives as long as the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            settings.prefect_host,
            "--port",
            str(settings.prefect_port),
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches Warroom, which stops the server last, in order
        preexec_fn=dying_with_parent(signal.SIGTERM),
    )
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url, auth):
            if proc.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with {proc.returncode}; see {out.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer on {url} within 120s; see {out.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


@dataclass
class Intake:
    """The receiver and its launch loop (in a process of its own unless ``settings.launch_process`` is
    off), wired to the ledger and to Prefect."""

    app: Any
    loop: LaunchLoop | LaunchProcess
    store: Store


def build_intake(settings: Settings, template: ProcessTemplate | None = None) -> Intake:
    from flows.chat_approval import answering
    from flows.chat_commands import handle as command

    store = Store.from_settings(settings)
    loop = LaunchProcess(template=template) if settings.launch_process else launch_loop(settings)
    router = Router(store, partial(catalogue_of, settings.runbooks_dir), settings.default_severity, loop.wake)
    # Loaded now, not by the first alert: cold (the steps' modules imported, every runbook validated) it
    # took ~250 ms, and the first second of a storm queued behind it.
    router.catalogue()
    slack = SlackHandlers(answering(settings, store), partial(command, settings=settings, store=store))
    intake = Intake(create_app(settings, store, router, slack), loop, store)
    settle()  # warm now: the full collections under a storm look only at what the storm makes
    return intake


def receiver_app() -> Any:
    """ASGI factory for running the receiver alone: `uvicorn --factory deployments.serve:receiver_app`."""
    from warroom.settings import get_settings

    intake = build_intake(get_settings())
    intake.loop.start()
    return intake.app


@contextmanager
def running_receiver(settings: Settings, template: ProcessTemplate | None = None) -> Iterator[Intake]:
    """The receiver on settings.receiver_host:port in a thread, with its launch loop (its process forked from
    ``template`` when given); stopped on exit."""
    import uvicorn

    intake = build_intake(settings, template)
    config = uvicorn.Config(
        intake.app,
        host=settings.receiver_host,
        port=settings.receiver_port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="warroom-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(
                f"the receiver could not start on {settings.receiver_host}:{settings.receiver_port}"
            )
        time.sleep(0.05)
    intake.loop.start()
    try:
        yield intake
    finally:
        intake.loop.stop()
        server.should_exit = True
        thread.join(10)
        if isinstance(intake.loop, LaunchLoop):
            intake.loop.store.close()
        intake.store.close()
