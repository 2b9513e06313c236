"""A real Unleash server (npm's unleash-server, installed under tests/unleash by scripts/install.sh --dev)
on 127.0.0.1, on a database of its own in the PostgreSQL cluster the suite starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.net import free_port, stop
from tests.patience import HANG

HERE = Path(__file__).resolve().parent / "unleash"
ADMIN_TOKEN = "*:*.warroom-test-admin"
CLIENT_TOKEN = "default:production.warroom-test-client"
ROLLOUT = {"rollout": "100", "stickiness": "default"}


@dataclass
class UnleashServer:
    url: str

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": ADMIN_TOKEN}, timeout=10)

    def feature(self, name: str, *, on_in: tuple[str, ...] = ("production",)) -> None:
        """A release feature with a 100% rollout strategy, on in ``on_in``."""
        with self._http() as http:
            base = "/api/admin/projects/default/features"
            http.post(base, json={"name": name, "type": "release"}).raise_for_status()
            for env in ("development", "production"):
                http.post(
                    f"{base}/{name}/environments/{env}/strategies",
                    json={
                        "name": "flexibleRollout",
                        "parameters": {"rollout": "100", "stickiness": "default"},
                    },
                ).raise_for_status()
            for env in on_in:
                http.post(f"{base}/{name}/environments/{env}/on").raise_for_status()

    def environments(self, name: str) -> dict[str, tuple[bool, list[str]]]:
        with self._http() as http:
            feature = http.get(f"/api/admin/projects/default/features/{name}").json()
        return {
            e["name"]: (e["enabled"], [s["name"] for s in e["strategies"]]) for e in feature["environments"]
        }

    def evaluated_on(self, name: str) -> bool:
        """What an SDK in production sees: the client API with a client token."""
        response = httpx.get(
            f"{self.url}/api/client/features/{name}", headers={"Authorization": CLIENT_TOKEN}, timeout=5
        )
        return bool(response.json().get("enabled"))


def unavailable() -> str | None:
    """Why the Unleash tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js is missing (scripts/install.sh --dev installs it and unleash-server)"
    if not (HERE / "node_modules" / "unleash-server").is_dir():
        return (
            "unleash-server is not installed: scripts/install.sh --dev (npm install --prefix tests/unleash)"
        )
    if not os.environ.get("WARROOM_TEST_DATABASE_URL"):
        return "Unleash needs PostgreSQL: WARROOM_TEST_DATABASE_URL (scripts/test.sh starts a cluster)"
    return None


@contextmanager
def running_unleash() -> Iterator[UnleashServer]:
    pg = make_url(os.environ["WARROOM_TEST_DATABASE_URL"])
    database = f"unleash_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    port = free_port()
    auth = f"{pg.username}:{pg.password}@" if pg.password else f"{pg.username}@"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}{pg.host}:{pg.port}/{database}",
        "HTTP_PORT": str(port),
        "INIT_ADMIN_API_TOKENS": ADMIN_TOKEN,
        "INIT_CLIENT_API_TOKENS": CLIENT_TOKEN,
    }
    log = open(HERE / f"server-{port}.log", "wb")
    proc = subprocess.Popen(["node", "server.js"], cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG
        while True:
            assert proc.poll() is None, (HERE / f"server-{port}.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"Unleash did not start within {HANG} s"
            time.sleep(0.5)
        yield UnleashServer(url)
    finally:
        stop(proc)
        log.close()
        (HERE / f"server-{port}.log").unlink(missing_ok=True)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
