"""PostgreSQL for benchmarks: fresh databases for a Prefect server and a ledger (--postgres URL), or a
throwaway cluster where none is given."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent


def fresh_databases(server: str, *roles: str) -> list[str]:
    """One new database per role on the PostgreSQL server at ``server``; their URLs, in order."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    urls = []
    with admin.connect() as conn:
        for role in roles:
            name = f"bench_{role}_{uuid.uuid4().hex[:8]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls.append(make_url(server).set(database=name).render_as_string(hide_password=False))
    admin.dispose()
    return urls


def asyncpg(url: str) -> str:
    """The same database as Prefect's server reads it (asyncpg driver)."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A PostgreSQL cluster of its own on 127.0.0.1 (scripts/pg-cluster.sh); its URL; stopped and removed
    after, whatever happened (a cluster left running outlives the benchmark and skews the next one)."""
    from tests.net import free_port

    pgdir = tempfile.mkdtemp(prefix="warroom-bench-pg-")
    try:
        made = subprocess.run(
            ["bash", str(REPO / "scripts" / "pg-cluster.sh"), pgdir, str(free_port())],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise SystemExit(f"cannot start a PostgreSQL cluster: {made.stderr.strip()}")
        yield made.stdout.strip()
    finally:
        if (Path(pgdir) / "data" / "postmaster.pid").exists():  # started: the binaries are there
            from deployments.prefect_database import postgres_bin

            bin_dir = postgres_bin()
            assert bin_dir is not None
            as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []  # as pg-cluster.sh
            subprocess.run(
                [*as_postgres, str(bin_dir / "pg_ctl"), "-D", f"{pgdir}/data", "-m", "immediate", "stop"],
                capture_output=True,
            )
        shutil.rmtree(pgdir, ignore_errors=True)
