"""`warroom up`: the embedded shape. A Prefect server (unless one is configured), every runbook registered on
a local work pool, its two lanes run warm (deployments/lanes.py: a P1 never waits behind P4s, and no run
pays a Python process start), the receiver with its launch loop, and the keeper; until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import ExitStack
from typing import Any

from deployments.distributed import ensure_pool, register
from deployments.keeper import Keeper
from deployments.lanes import PRELOAD as LANE_IMPORTS
from deployments.lanes import LaneWorkers
from deployments.launch_process import PRELOAD as LAUNCH_IMPORTS
from deployments.prefect_database import DATABASE_LABELS, database_kind
from deployments.serve import local_auth, local_prefect_server, running_receiver
from deployments.template import process_template
from deployments.warm_worker import POOL_TYPE
from flows.communicate import rooms_ready
from flows.status_page import status_ready
from warroom.intake.auth import home_token
from warroom.intake.formats import FORMAT_NAMES
from warroom.runbook import Catalogue
from warroom.settings import Settings

LOCAL_POOL = "warroom-up"


def serve_everything(settings: Settings, catalogue: Catalogue, console: Any) -> None:
    """`warroom up`: a Prefect server unless one is configured, then every runbook served until Ctrl-C."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    rooms = rooms_ready(settings)  # a chat service that cannot make rooms refuses here, not mid-incident
    vendor = status_ready(settings)  # and so does a vendor's status page that refuses the key
    with ExitStack() as stack:
        api = PREFECT_API_URL.value()
        started_here = not api
        if not api:
            console.print(
                f"starting a local Prefect server on {settings.prefect_host}:{settings.prefect_port} "
                f"({DATABASE_LABELS[database_kind(settings)]}) ..."
            )
            api = stack.enter_context(local_prefect_server(settings))
        updates: dict[Any, Any] = {PREFECT_API_URL: api}
        os.environ["PREFECT_API_URL"] = api  # the lanes' worker processes inherit it
        configured = settings.prefect_auth.get_secret_value() if settings.prefect_auth else None
        auth = local_auth(settings) if started_here else configured
        if auth:
            updates[PREFECT_API_AUTH_STRING] = auth
            os.environ["PREFECT_API_AUTH_STRING"] = auth  # and this
        if started_here:
            # The server started here has no CSRF protection: a client asking it for a token per connection
            # only adds a request to every run.
            os.environ["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] = "false"
        stack.enter_context(temporary_settings(updates=updates))
        kind = ensure_pool(LOCAL_POOL, POOL_TYPE)
        if kind != POOL_TYPE:
            raise RuntimeError(
                f"the work pool {LOCAL_POOL!r} on {api} has type {kind!r}; `warroom up` runs its own "
                f"({POOL_TYPE!r}): delete it or point PREFECT_API_URL elsewhere"
            )
        # The lanes and the launch loop are forked from one process that has imported what they run: no
        # import per start or restart. Started from this thread, which lives as long as they should.
        template = stack.enter_context(process_template(os.environ, LANE_IMPORTS + LAUNCH_IMPORTS))
        intake = stack.enter_context(running_receiver(settings, template))
        keeper = Keeper(intake.store, settings)
        keeper.start()
        stack.callback(keeper.stop)
        own_token = not settings.intake_tokens and not settings.intake_hmac_secrets
        if own_token:
            home_token(settings)  # before the runbooks are served: whoever sees them served may post alerts
        lanes = LaneWorkers(LOCAL_POOL, template=template)
        lanes.start()  # forked once the template has imported; wait_ready below waits for them
        stack.callback(lanes.stop)
        # Registered while the lanes warm up: on a loaded machine that takes a minute or more, and an alert
        # launched meanwhile waits in its queue rather than being refused.
        names = register(catalogue, LOCAL_POOL)
        if not lanes.wait_ready(settings.run_start_seconds):
            console.print("the lanes' workers are not polling yet: runs wait in Prefect until they do")
        console.print(f"Prefect UI: {api.removesuffix('/api')}")
        if started_here:
            console.print(f"  login (user:password): in {settings.home / 'prefect-auth'}")
        receiver = f"http://{settings.receiver_host}:{settings.receiver_port}"
        console.print(f"alert receiver: {receiver}/alerts/{{{','.join(FORMAT_NAMES)}}}")
        if own_token:
            console.print(f"  bearer token: in {settings.home / 'intake-token'}")
        if rooms:
            console.print(f"incident rooms: {rooms}")
        console.print(f"public status page: {receiver}/status/" + (f" and {vendor}" if vendor else ""))
        for name in names:
            console.print(f"serving {name}")
        console.print(f"runs on work pool {LOCAL_POOL}: an urgent lane (P1, P2) and a normal lane, each warm")
        console.print("Ctrl-C stops everything started here.")
        console.print("New here? In another terminal, `warroom demo` plays a bad deploy in a sandbox.")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # stopped as by Ctrl-C: everything cleaned up
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
