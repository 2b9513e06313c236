"""A Prefect database already migrated, copied into the Prefect home of each server a test or a benchmark's
tiny run starts, as a second `warroom up` on the same machine finds its own.

Prefect migrates a new SQLite database at its server's first start: about 6 s of CPU on these machines, and
the suite starts some forty servers. The template is made once per machine and Prefect version (under a
file lock, so parallel workers make it once) with Prefect's own `prefect server database upgrade`. A first
start on an empty home stays tested where it is the point: the demo, tests/test_prefect_database.py.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

# By the installed version, read without importing Prefect (it reads its settings when imported).
_TEMPLATE = Path(tempfile.gettempdir()) / f"warroom-test-prefect-{version('prefect')}.db"


def _template() -> Path:
    with open(f"{_TEMPLATE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _TEMPLATE.exists():
            return _TEMPLATE
        with tempfile.TemporaryDirectory(prefix="warroom-prefect-template-") as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false")
            subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )
            made = Path(home) / "prefect.db"
            partial = _TEMPLATE.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            with sqlite3.connect(made) as db:  # one self-contained file: the WAL folded in
                db.execute(f"VACUUM INTO '{partial}'")
            partial.replace(_TEMPLATE)  # whole or not at all: a worker killed here leaves no half template
        return _TEMPLATE


def seed_prefect_home(prefect_home: Path) -> None:
    """Put a migrated Prefect database where a server on ``prefect_home`` will look for it (none is there)."""
    database = prefect_home / "prefect.db"
    if database.exists():
        return
    prefect_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(), database)
