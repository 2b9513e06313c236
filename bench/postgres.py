"""Fresh PostgreSQL databases for a benchmark's Prefect server and ledger (--postgres URL)."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


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
