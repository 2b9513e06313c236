"""Shared fixtures: a fresh ledger per test, on SQLite, and on PostgreSQL when one is given."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sandbox.kube import FakeCluster, RunningCluster, running_cluster
from tests.moto_server import aws_env, running_moto
from tests.patience import HANG
from tests.sshd import Sshd, running_sshd
from tests.unleash_server import UnleashServer, running_unleash
from tests.unleash_server import unavailable as unleash_unavailable
from warroom.ledger import Store
from warroom.settings import get_settings

# Prefect's servers (the harness, `warroom up`'s) would otherwise try to send telemetry off this machine.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# The Prefect servers tests start are on SQLite, each a file of its own; the embedded PostgreSQL that
# `warroom up` prefers is started on purpose by the tests of it (tests/test_prefect_database.py, the UI's).
os.environ["WARROOM_PREFECT_DATABASE"] = "sqlite"
# As `warroom up` gives its own SQLite: a write waits up to 60 s for the lock, where Prefect's 10 s answers
# 503 on a loaded machine (the session's harness server too, which takes its environment from here).
os.environ.setdefault("PREFECT_SERVER_DATABASE_TIMEOUT", "60")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules marked ``long`` first, longest first, the rest as collected: the parallel run hands
    whole modules to its workers in this order (`--dist loadscope --no-loadscope-reorder`), and a long
    module handed out last keeps one worker busy while the others have finished."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("long")
        return float(mark.args[0]) if mark else 0.0

    items.sort(key=lambda item: -seconds(item))  # stable: each module's tests stay together, in order


PG_URL = os.environ.get("WARROOM_TEST_DATABASE_URL")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own WARROOM_HOME, so nothing leaks between tests or into ~/.warroom."""
    monkeypatch.setenv("WARROOM_HOME", str(tmp_path / "home"))
    # The CLI's own signing key (`warroom approvers enroll` on "this machine"): none unless a test makes it.
    monkeypatch.setenv("WARROOM_KEY_FILE", str(tmp_path / "this-machine" / "key.pem"))
    monkeypatch.setenv(
        "WARROOM_ONCALL_DIR", str(tmp_path / "oncall")
    )  # the shipped schedules only on purpose
    monkeypatch.delenv("WARROOM_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _fresh_pg_database(base: str) -> tuple[str, str]:
    name = f"warroom_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(base: str, name: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty ledger database: SQLite in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger' / 'warroom.db'}"
        return
    assert PG_URL
    url, name = _fresh_pg_database(PG_URL)
    try:
        yield url
    finally:
        _drop_pg_database(PG_URL, name)


@pytest.fixture
def store(ledger_url: str) -> Iterator[Store]:
    s = Store(ledger_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One ledger for the flow tests, like the one Prefect server: incident numbers (and so the run tags
    `incident:INC-N` and artifact keys `inc-N-timeline`) stay unique across test modules."""
    return f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'warroom.db'}"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One real Prefect server (the test harness: a subprocess server on SQLite) for the session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HANG):  # a hang guard: a loaded machine is slow
        url = PREFECT_API_URL.value()
        assert url
        os.environ["PREFECT_API_URL"] = url  # for the `warroom` processes the tests start
        yield url
        os.environ.pop("PREFECT_API_URL", None)


PASSPHRASE = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH server on 127.0.0.1 with its own host key; the client key has a passphrase."""
    with running_sshd(tmp_path_factory.mktemp("sshd"), passphrase=PASSPHRASE) as server:
        yield server


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCluster]:
    """A loopback Kubernetes API server (sandbox/kube/) with KUBECONFIG pointing at it."""
    with running_cluster(FakeCluster(), tmp_path / "kube") as running:
        monkeypatch.setenv("KUBECONFIG", str(running.kubeconfig))
        get_settings.cache_clear()
        yield running


@pytest.fixture(scope="session")
def unleash() -> Iterator[UnleashServer]:
    """A real Unleash server for the session; the tests that need it skip, saying why, where it cannot run."""
    why = unleash_unavailable()
    if why:
        pytest.skip(why)
    with running_unleash() as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode for the session (AWS on loopback)."""
    with running_moto() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in aws_env(moto_endpoint).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield moto_endpoint
    get_settings.cache_clear()
