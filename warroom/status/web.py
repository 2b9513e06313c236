"""The status page over HTTP: ``/status/`` (HTML), ``/status/index.json`` and ``/status/feed.atom``, mounted
on the receiver, or served alone by `warroom status serve`. An outage brings readers in crowds, so each form
is built at most once per ``cache_seconds`` whatever the number of readers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from warroom.ledger import Store
from warroom.settings import Settings
from warroom.status.html import render_atom, render_html
from warroom.status.model import StatusSettings
from warroom.status.page import Page, build_page, page_json


class _Cached:
    def __init__(self, build: Callable[[], Page], seconds: float) -> None:
        self.build, self.seconds = build, seconds
        self._lock = threading.Lock()
        self._made: dict[str, tuple[float, bytes]] = {}

    def get(self, form: str, render: Callable[[Page], bytes]) -> bytes:
        with self._lock:  # one reader builds; the others wait for it rather than build the same page
            made = self._made.get(form)
            if made is None or time.monotonic() - made[0] >= self.seconds:
                made = (time.monotonic(), render(self.build()))
                self._made[form] = made
            return made[1]


def status_router(store: Store, settings: Settings, prefix: str = "/status") -> APIRouter:
    own = settings.of(StatusSettings)
    cache = _Cached(lambda: build_page(store, own), own.cache_seconds)
    router = APIRouter()
    headers = {"Cache-Control": f"public, max-age={int(own.cache_seconds)}"}

    if prefix:

        @router.get(prefix, include_in_schema=False)
        def bare() -> Response:  # the relative links (index.json, feed.atom) need the trailing slash
            return RedirectResponse(f"{prefix}/", status_code=308)

    @router.get(f"{prefix}/", response_class=HTMLResponse, summary="The public status page")
    def page() -> Response:
        body = cache.get("html", lambda p: render_html(p).encode())
        return HTMLResponse(body, headers=headers)

    @router.get(f"{prefix}/index.json", summary="The status page's facts as JSON")
    def index() -> Response:
        body = cache.get("json", lambda p: json.dumps(page_json(p), ensure_ascii=False).encode())
        return Response(body, media_type="application/json", headers=headers)

    @router.get(f"{prefix}/feed.atom", summary="Every published update as an Atom feed")
    def feed() -> Response:
        return Response(cache.get("atom", render_atom), media_type="application/atom+xml", headers=headers)

    return router


def status_app(store: Store, settings: Settings) -> FastAPI:
    """The page alone (`warroom status serve`): at ``/``."""
    app = FastAPI(title=settings.of(StatusSettings).title, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(status_router(store, settings, prefix=""))
    return app
