"""`warroom up`'s Prefect server on its own embedded PostgreSQL: started with it, private, stopped with it."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest

from deployments.prefect_database import _cluster, database_kind, postgres_bin
from tests.net import free_port
from warroom.settings import Settings

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed")


def test_auto_picks_postgresql_when_it_is_installed(tmp_path: Path) -> None:
    assert database_kind(Settings(home=tmp_path / "home", prefect_database="auto")) == "postgres"
    assert database_kind(Settings(home=tmp_path / "home", prefect_database="sqlite")) == "sqlite"


def test_a_database_named_by_prefects_own_setting_is_used_and_no_cluster_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmarks' --postgres named a database this way, and the embedded cluster took its place."""
    from deployments.serve import local_prefect_server

    named = tmp_path / "named.db"
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{named}")
    settings = Settings(
        home=tmp_path / "home",
        prefect_port=free_port(),
        prefect_auth="warroom:named",
        prefect_database="postgres",
    )
    assert database_kind(settings) == "named"
    with local_prefect_server(settings) as api:
        made = httpx.post(f"{api}/flows/", json={"name": "on-named"}, auth=("warroom", "named"), timeout=30)
        assert made.status_code in (200, 201), made.text
        with contextlib.closing(sqlite3.connect(named)) as db:
            assert db.execute("SELECT name FROM flow").fetchall() == [("on-named",)]
    # An embedded cluster's first step writes its password into the home (and asking `_cluster` where it
    # would live makes its directories): nothing of one was begun.
    assert not (settings.home / "prefect-db-password").exists()


def test_the_embedded_prefect_server_runs_on_its_own_postgresql_and_stops_it(tmp_path: Path) -> None:
    from deployments.serve import local_prefect_server

    settings = Settings(
        home=tmp_path / "home",
        prefect_port=free_port(),
        prefect_auth="warroom:pg-test",
        prefect_database="auto",
    )
    with local_prefect_server(settings) as api:
        cluster = _cluster(settings)
        assert cluster.run("pg_ctl", "-D", str(cluster.data), "status").returncode == 0
        made = httpx.post(
            f"{api}/flows/", json={"name": "on-postgres"}, auth=("warroom", "pg-test"), timeout=30
        )
        assert made.status_code in (200, 201), made.text
        assert not (settings.home / "prefect" / "prefect.db").exists()  # not SQLite
        password = (settings.home / "prefect-db-password").read_text().strip()
        assert stat.S_IMODE((settings.home / "prefect-db-password").stat().st_mode) == 0o600
        assert password not in (settings.home / "prefect" / "server.log").read_text(errors="replace")
    assert cluster.run("pg_ctl", "-D", str(cluster.data), "status").returncode != 0  # stopped with it
    with local_prefect_server(settings) as api:  # and joined again, same password, same history
        found = httpx.post(f"{api}/flows/filter", json={}, auth=("warroom", "pg-test"), timeout=30).json()
        assert "on-postgres" in [f["name"] for f in found]
