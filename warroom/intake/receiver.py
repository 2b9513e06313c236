"""The alert receiver (ASGI): ``POST /alerts/{format}``, ``GET /healthz``, and its OpenAPI spec.

Order of work for every request: size limit, credentials (nothing is stored for a caller who cannot
prove who it is), parsing, then the raw body into the ledger with what parsing found and routing, in one
transaction, and only then the 2xx answer. A body that cannot be parsed stays in the ledger with its
error and is answered 400/422 naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from warroom.intake import auth, slack_actions, slack_events
from warroom.intake.alert import PayloadError, decode_json
from warroom.intake.formats import FORMAT_NAMES, FORMATS
from warroom.intake.formats.base import Parsed
from warroom.intake.launcher import LEASE as LAUNCH_LEASE
from warroom.intake.router import Router
from warroom.ledger import Store
from warroom.ledger.intake import PayloadState
from warroom.redact import redact_text
from warroom.settings import Settings
from warroom.status.web import status_router


class Accepted(BaseModel):
    payload_id: int
    alerts: int
    results: list[dict[str, Any]]
    note: str | None = None


class Rejection(BaseModel):
    error: str
    field: str | None = None
    payload_id: int | None = None


@dataclass(frozen=True)
class Read:
    """What reading an authenticated body found: its alerts, or why it is refused (status, message, field,
    and the error kept with the body)."""

    parsed: Parsed | None = None
    refused: tuple[int, str, str | None, str] | None = None


def _problem(
    status: int, error: str, field: str | None = None, payload_id: int | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content=Rejection(error=error, field=field, payload_id=payload_id).model_dump()
    )


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (checked as it streams, not just by header)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(
    settings: Settings, store: Store, router: Router, slack: slack_actions.SlackHandlers | None = None
) -> FastAPI:
    """The receiver; ``slack`` answers approvals and /warroom commands given in chat (the flows' own,
    composed at the top)."""
    # Each alert's ledger work (keep, route) runs on the receiver's own ledger threads, in arrival
    # order: one for SQLite, which has one writer (request threads queueing inside it sleep in its busy
    # steps, up to 100 ms, and a semaphore over Starlette's forty threads handed the GIL round a convoy of
    # waiters); a few for PostgreSQL, which takes concurrent writers. Authentication and reading the body stay
    # on Starlette's threads: a slow sender (SNS fetches AWS's certificate) never holds the line, and the
    # one SQLite line does only the ledger's work.
    ledger_threads = ThreadPoolExecutor(
        max_workers=1 if store.dialect == "sqlite" else 4, thread_name_prefix="warroom-intake-ledger"
    )
    app = FastAPI(
        title="Warroom alert receiver",
        version="1",
        description="Alerts from Alertmanager, Grafana, CloudWatch (SNS), PagerDuty and generic JSON.",
    )
    app.router.on_shutdown.append(lambda: ledger_threads.shutdown(wait=False))

    app.include_router(status_router(store, settings))  # the public status page: /status/

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "pending_launches": len(store.due_launches()),
            "launching": store.lease_holder(LAUNCH_LEASE),
        }

    @app.post(
        "/alerts/{source}",
        status_code=202,
        response_model=Accepted,
        responses={
            400: {"model": Rejection},
            401: {"model": Rejection},
            404: {"model": Rejection},
            413: {"model": Rejection},
            422: {"model": Rejection},
        },
    )
    async def receive(source: str, request: Request) -> Any:
        if source not in FORMAT_NAMES:
            return _problem(
                404, f"unknown alert format {source!r} (known: {', '.join(FORMAT_NAMES)})", "format"
            )
        body = await _read_limited(request, settings.intake_max_body_bytes)
        if body is None:
            return _problem(413, f"body larger than {settings.intake_max_body_bytes} bytes")
        remote = request.client.host if request.client else None
        headers = dict(request.headers)
        # Authentication (SNS fetches AWS's certificate) and the ledger are blocking I/O: off the event
        # loop, so one slow sender or write never stalls other requests.
        read = await run_in_threadpool(_authenticate_and_read, source, headers, body)
        if isinstance(read, JSONResponse):
            return read
        return await asyncio.get_running_loop().run_in_executor(
            ledger_threads, _keep_and_route, source, body, remote, headers.get("content-type"), read
        )

    def _authenticate_and_read(source: str, headers: dict[str, str], body: bytes) -> JSONResponse | Read:
        # Nothing is stored for a sender who cannot prove who it is (SNS: AWS's signature on the message).
        try:
            FORMATS[source].authenticate(headers, body, settings)
        except auth.Unauthorized as exc:
            return _problem(401, str(exc))
        except PayloadError as exc:
            return _problem(
                exc.status, f"{redact_text(exc.message)} (not stored: unauthenticated)", exc.field
            )
        # Read here, not on the ledger's thread: it holds the alerts' order, and only the ledger needs it.
        try:
            data = decode_json(body)
        except PayloadError as exc:
            return Read(refused=(400, exc.message, "<body>", exc.message))
        try:
            return Read(parsed=FORMATS[source].receive(data, settings))
        except PayloadError as exc:
            return Read(refused=(exc.status, redact_text(exc.message), exc.field, str(exc)))
        except Exception as exc:  # a body no parser foresaw is the sender's to fix, and it is kept
            why = redact_text(
                f"the body is not a {source} payload Warroom can read: {type(exc).__name__}: {exc}"
            )
            return Read(refused=(422, why[:500], "<body>", why[:1000]))

    def _keep_and_route(
        source: str, body: bytes, remote: str | None, content_type: str | None, read: Read
    ) -> Any:
        # Acknowledged means kept: the body is in the ledger, with what reading it found and what routing
        # did, before any answer.
        if read.refused is not None:
            status, message, field, error = read.refused
            payload_id = store.save_payload(
                source,
                body,
                remote=remote,
                content_type=content_type,
                state=PayloadState.REJECTED,
                error=error,
            )
            return _problem(status, message, field, payload_id)
        parsed = read.parsed
        assert parsed is not None
        alerts = parsed.alerts
        try:
            # One transaction: the body and what it opened, attached and queued are kept together.
            with store.unit():
                payload_id = store.save_payload(
                    source,
                    body,
                    remote=remote,
                    content_type=content_type,
                    state=PayloadState.ACCEPTED if alerts else PayloadState.IGNORED,
                    alerts=len(alerts),
                    error=parsed.note,
                )
                for alert in alerts:
                    alert.payload_id = payload_id
                results = router.route(alerts)
        except Exception as exc:
            # Read, not routed, and nothing of it kept: the body is kept now with why, and the 500 makes
            # the sender send it again.
            note = redact_text(f"not routed: {type(exc).__name__}: {exc}")[:1000]
            with contextlib.suppress(Exception):  # the ledger itself may be what failed
                store.save_payload(
                    source,
                    body,
                    remote=remote,
                    content_type=content_type,
                    state=PayloadState.RECEIVED,
                    alerts=len(alerts),
                    error=note,
                )
            raise
        return JSONResponse(
            status_code=202,
            content=Accepted(
                payload_id=payload_id,
                alerts=len(alerts),
                results=[r.as_json() for r in results],
                note=parsed.note,
            ).model_dump(),
        )

    SlackAnswer = Callable[[bytes, dict[str, str], str | None], Any]

    async def from_slack(request: Request, answer: SlackAnswer) -> Any:
        """A request Slack signed for the app (a button, a command, an event): refused 401 unsigned, else
        ``answer(body, headers, remote)`` off the event loop."""
        body = await _read_limited(request, 64 * 1024)
        if body is None:
            return _problem(413, "body larger than 64 KiB")
        headers = {k.lower(): v for k, v in request.headers.items()}
        remote = request.client.host if request.client else None

        def work() -> Any:
            try:
                slack_actions.verify(headers, body, settings)
            except auth.Unauthorized as exc:
                return _problem(401, str(exc))  # nothing is stored for a caller Slack did not sign for
            return answer(body, headers, remote)

        return await run_in_threadpool(work)

    def kept_and_refused(
        source: str, body: bytes, headers: dict[str, str], remote: str | None, why: str
    ) -> Any:
        """A signed body that is not what Slack sends: 400 saying why, the raw body kept."""
        payload_id = store.save_payload(
            source,
            body,
            remote=remote,
            content_type=headers.get("content-type"),
            state=PayloadState.REJECTED,
            error=why[:1000],
        )
        return _problem(400, why[:500], "payload", payload_id)

    @app.post("/slack/actions", responses={401: {"model": Rejection}, 400: {"model": Rejection}})
    async def slack_action(request: Request) -> Any:
        def answer(body: bytes, headers: dict[str, str], remote: str | None) -> Any:
            payload_id = store.save_payload(
                "slack", body, remote=remote, content_type=headers.get("content-type")
            )
            try:
                said = slack_actions.handle(body, settings, store, slack)
            except ValueError as exc:
                store.mark_payload(payload_id, PayloadState.REJECTED, error=str(exc)[:1000])
                return _problem(400, str(exc)[:500], "payload", payload_id)
            store.mark_payload(payload_id, PayloadState.ACCEPTED, alerts=0)
            return JSONResponse(said)

        return await from_slack(request, answer)

    def answered_by(handle: Callable[[bytes, Settings, Store], Any], source: str) -> SlackAnswer:
        """Slack's answer from ``handle``; a signed body it refuses is kept under ``source``."""

        def answer(body: bytes, headers: dict[str, str], remote: str | None) -> Any:
            try:
                return JSONResponse(handle(body, settings, store))
            except ValueError as exc:
                return kept_and_refused(source, body, headers, remote, str(exc))

        return answer

    @app.post("/slack/commands", responses={401: {"model": Rejection}, 400: {"model": Rejection}})
    async def slack_command(request: Request) -> Any:
        def command(body: bytes, _settings: Settings, _store: Store) -> Any:
            if slack is None:
                raise ValueError("/warroom commands are not served by this receiver")
            return slack.command(body)

        return await from_slack(request, answered_by(command, "slack-commands"))

    @app.post("/slack/events", responses={401: {"model": Rejection}, 400: {"model": Rejection}})
    async def slack_event(request: Request) -> Any:
        return await from_slack(request, answered_by(slack_events.handle, "slack-events"))

    return app
