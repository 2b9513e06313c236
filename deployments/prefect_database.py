"""The database of the Prefect server `warroom up` starts: an embedded PostgreSQL cluster when PostgreSQL is
installed, else SQLite.

Why not SQLite when there is a choice: Prefect resumes a paused run (the approval form's Submit) and
creates a run (the custom-run form's Run) in deferred transactions that read, then write. When any other
write commits in between (the runner marking its deployments polled every second, the event persister,
a flow's logs), SQLite refuses at once with "database is locked" (SQLITE_BUSY_SNAPSHOT): no busy timeout
waits that out, and the UI shows "Failed to resume flow run". `bench/ui_resumes.py --load` measures it.

The cluster listens on a Unix socket only (no TCP port), with a password made once and kept in
$WARROOM_HOME; as root it runs as the `postgres` user, whose data directory lives under
/var/lib/warroom (root's $WARROOM_HOME is 0700, closed to that user).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from warroom.home import private_file
from warroom.settings import Settings

DATABASE = "prefect"
USER = "warroom"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian's layout first), or None."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()],
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "pg_ctl").exists() else None


# Prefect's own settings for its server's database (the second an alias of the first).
PREFECT_DATABASE_VARIABLES = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")

# What each kind is called where `warroom up` and the benchmarks say what they start.
DATABASE_LABELS = {
    "named": "the database Prefect's own setting names",
    "postgres": "embedded PostgreSQL",
    "sqlite": "SQLite",
}


def database_kind(settings: Settings) -> str:
    """``named``, ``postgres`` or ``sqlite``: what `warroom up`'s Prefect server will use. A database named
    by Prefect's own setting is used as it is: an operator who named one meant it (and an embedded
    cluster started beside it would have taken its place, its variable being the stronger)."""
    if any(os.environ.get(v) for v in PREFECT_DATABASE_VARIABLES):
        return "named"
    if settings.prefect_database == "auto":
        return "postgres" if postgres_bin() is not None and _runs_as() is not None else "sqlite"
    return settings.prefect_database


def _runs_as() -> pwd.struct_passwd | None:
    """Who runs the cluster: this user, or `postgres` when this is root (PostgreSQL refuses root)."""
    if os.getuid() != 0:
        return pwd.getpwuid(os.getuid())
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


@dataclass(frozen=True)
class Cluster:
    bin: Path
    data: Path
    socket_dir: Path
    log: Path
    owner: pwd.struct_passwd

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.getuid() == 0:
            command = ["runuser", "-u", self.owner.pw_name, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _cluster(settings: Settings) -> Cluster:
    bin_dir = postgres_bin()
    owner = _runs_as()
    if bin_dir is None or owner is None:
        raise RuntimeError("PostgreSQL is not installed (or, as root, there is no `postgres` user)")
    tag = hashlib.sha256(str(settings.home.resolve()).encode()).hexdigest()[:12]
    base = Path("/var/lib/warroom") / f"prefect-{tag}" if os.getuid() == 0 else settings.home / "prefect"
    # A socket path has at most 107 bytes: it lives in the temporary directory, closed to others.
    socket_dir = Path(tempfile.gettempdir()) / f"warroom-pg-{tag}"
    if os.getuid() == 0:
        base.parent.mkdir(parents=True, exist_ok=True)
        base.parent.chmod(0o711)  # `postgres` passes through to its own directory, and lists nothing
    for path in (base, socket_dir):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return Cluster(bin_dir, base / "postgres", socket_dir, base / "postgres.log", owner)


def _password(settings: Settings, cluster: Cluster) -> str:
    path = settings.home / "prefect-db-password"
    if path.exists() and (cluster.data / "PG_VERSION").exists():
        return path.read_text().strip()
    if (cluster.data / "PG_VERSION").exists():
        # Its password is lost with the home that held it; the cluster holds only Prefect's run history.
        shutil.rmtree(cluster.data)
    password = secrets.token_urlsafe(24)
    private_file(path, password.encode(), replace=True)
    pwfile = cluster.socket_dir / "pwfile"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, cluster.owner.pw_uid, cluster.owner.pw_gid)
    pwfile.chmod(0o600)
    try:
        made = cluster.run(
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            USER,
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if made.returncode != 0:
        raise RuntimeError(f"initdb failed: {made.stderr.strip()[-500:]}")
    return password


@contextmanager
def embedded_postgres(settings: Settings) -> Iterator[str]:
    """Start (or join) this home's PostgreSQL cluster; yield Prefect's connection URL; stop it on exit."""
    cluster = _cluster(settings)
    password = _password(settings, cluster)
    # One left running by a `warroom up` that was killed is joined, and stopped with this one.
    if cluster.run("pg_ctl", "-D", str(cluster.data), "status").returncode != 0:
        options = (
            f"-c listen_addresses='' -c unix_socket_directories={cluster.socket_dir} -c max_connections=100"
        )
        done = cluster.run(
            "pg_ctl",
            "-D",
            str(cluster.data),
            "-l",
            str(cluster.log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()[-500:]}; see {cluster.log}")
    try:
        env = {**os.environ, "PGPASSWORD": password}
        where = ["-h", str(cluster.socket_dir), "-U", USER]
        exists = cluster.run(
            "psql",
            *where,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",  # noqa: S608 - a constant
            env=env,
        )
        if exists.returncode != 0:
            raise RuntimeError(f"cannot reach the embedded PostgreSQL: {exists.stderr.strip()[-300:]}")
        if exists.stdout.strip() != "1":
            made = cluster.run("createdb", *where, DATABASE, env=env)
            if made.returncode != 0:
                raise RuntimeError(f"createdb failed: {made.stderr.strip()[-300:]}")
        yield f"postgresql+asyncpg://{USER}:{quote(password, safe='')}@/{DATABASE}?host={cluster.socket_dir}"
    finally:
        cluster.run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "stop")
