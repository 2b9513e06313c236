"""The ledger's database: engine, migrations, transactions, and the errors every part of the ledger raises.

SQLite (WAL) by default, PostgreSQL by URL. Invariants live in the database (unique keys, triggers that
refuse to rewrite a timeline), so they hold for every process that shares it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.exc import NoSuchModuleError as NoSuchDialect

from warroom.incident import parse_incident_ref
from warroom.redact import redact_text

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0016"  # the newest migration; a test keeps this in step with migrations/versions
PG_MIGRATION_LOCK = 0x5741_5252  # "WARR": serializes concurrent first starts on one PostgreSQL database


class StoreError(RuntimeError):
    """A ledger operation that cannot be done, with a message fit for the terminal."""


class StoreUnavailable(StoreError):
    """The ledger's database cannot be reached or opened."""


class NotFound(StoreError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_text(url)


TURN_WAIT = 35.0  # past SQLite's own busy timeout: a writer that waited this long goes on without its turn
_POLL_FIRST, _POLL_MOST = 0.0002, 0.002  # seconds between looks at another process's turn


class WriterTurns:
    """The turns of one SQLite file's writers: its writers queue here and start the moment the last one
    ends, instead of sleeping in SQLite's busy handler (1 ms, 2, 5, ... up to 100 ms a step) and finding
    it taken again. In this process a lock; between processes (the receiver, its launch process, the
    lanes) a ``flock`` on ``<database>.turns``, looked at every 0.2-2 ms. Fifty gates in one warm lane took
    seconds per answer without the first (bench/gates.py); alerts at 200/s queued behind the launch
    process's writes for 300 ms without the second (bench/intake.py)."""

    def __init__(self, database: str) -> None:
        self._path: Path | None = None
        if database and database != ":memory:":
            path = Path(database).expanduser()
            self._path = path.with_name(path.name + ".turns")
        self._open()

    def _open(self) -> None:
        self._here = threading.Lock()
        self._file: int | None = None
        if self._path is not None:
            try:
                self._file = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o600)
            except OSError:  # another user's file: this process's writers meet SQLite's own lock instead
                self._file = None

    def after_fork(self) -> None:
        """A forked child shares its parent's lock file (and with it a turn the parent held): it opens
        its own."""
        if self._file is not None:
            os.close(self._file)
        self._open()

    def acquire(self, timeout: float) -> bool:
        """True with the turn; False after ``timeout`` (SQLite's own busy timeout then governs)."""
        deadline = time.monotonic() + timeout
        if not self._here.acquire(timeout=timeout):
            return False
        if self._file is None:
            return True
        pause = _POLL_FIRST
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._here.release()
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MOST)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._here.release()


_WRITERS: dict[str, WriterTurns] = {}
_WRITERS_LOCK = threading.Lock()


def _after_fork() -> None:
    global _WRITERS_LOCK
    _WRITERS_LOCK = threading.Lock()  # another thread may have held it at the fork
    for turns in _WRITERS.values():
        turns.after_fork()


os.register_at_fork(after_in_child=_after_fork)


def _writer_turns(database: str) -> WriterTurns:
    """One ``WriterTurns`` per SQLite file in this process."""
    key = str(Path(database).expanduser().resolve()) if database and database != ":memory:" else database
    with _WRITERS_LOCK:
        if key not in _WRITERS:
            _WRITERS[key] = WriterTurns(key)
        return _WRITERS[key]


def _install_sqlite_pragmas(engine: Engine, database: str) -> None:
    turns = _writer_turns(database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Driver-level autocommit, so the "begin" hook below decides how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes would
        # fail with SQLITE_BUSY under contention instead of waiting its turn.
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
            return
        # Bounded: a write nested in another on the same thread meets SQLite's busy timeout, as it did
        # before there were turns, rather than waiting here forever.
        mine = turns.acquire(timeout=TURN_WAIT)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if mine:
                turns.release()
            raise
        if mine:
            conn.info["warroom_writer_turn"] = turns

    # Let the next writer in as this one commits or rolls back.
    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Connection) -> None:
        held = conn.info.pop("warroom_writer_turn", None)
        if held is not None:
            held.release()

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        # A connection given back mid-transaction without a commit or rollback (never by this code's
        # `with` blocks) must not keep the turn: the pool's reset has rolled it back.
        held = record.info.pop("warroom_writer_turn", None) if record is not None else None
        if held is not None:
            held.release()


def number_of(ref: str | int) -> int:
    return ref if isinstance(ref, int) else parse_incident_ref(ref)


class Database:
    """The ledger's connection: one engine, migrated to ``HEAD``, with read and write transactions."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.display_url = safe_url(url)
        self._local = threading.local()  # this thread's unit: its connection and what follows its commit
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreUnavailable(f"not a database URL: {self.display_url}") from None
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            # A file has no connection to drop: a ping before each transaction would only cost a query.
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True  # a server restart or idle timeout drops pooled connections
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            self.engine = create_engine(url, **kwargs)
        except (NoSuchDialect, ModuleNotFoundError, ArgumentError) as exc:
            raise StoreUnavailable(f"cannot use database {self.display_url}: {exc}") from None
        if self.dialect == "sqlite":
            _install_sqlite_pragmas(self.engine, parsed.database or "")
        try:
            if migrate:
                self.migrate()
            else:
                with self.engine.connect():
                    pass
        except OperationalError as exc:
            self.engine.dispose()
            reason = redact_text(str(exc.orig).strip().splitlines()[0]) if exc.orig else "unreachable"
            password = parsed.password
            if password:
                reason = reason.replace(str(password), "***")
            raise StoreUnavailable(f"cannot reach database {self.display_url}: {reason}") from None

    @classmethod
    def from_settings(cls, settings: Any = None) -> Self:
        from warroom.settings import get_settings

        return cls((settings or get_settings()).ledger_url())

    def close(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest migration; safe when several processes start at once."""
        if self._at_head():
            return  # the common case: no alembic import, no lock (flow runs open the ledger at every start)
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _at_head(self) -> bool:
        try:
            with self.engine.connect() as conn:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DatabaseError:
            return False  # a new database: no version table yet
        return version == HEAD

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        database = make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def unit(self) -> Iterator[None]:
        """One transaction for every ledger write and read this thread makes inside it: all of them are
        kept, or none. A method that catches its insert losing a race goes on as it does alone (see
        ``_write``). Work that must follow the commit (waking the launch loop) is handed to
        ``after_commit``. Nested units are one unit."""
        if self._local.__dict__.get("conn") is not None:
            yield
            return
        later: list[Callable[[], None]] = []
        with self.engine.begin() as conn:
            self._local.conn, self._local.later = conn, later
            try:
                yield
            finally:
                self._local.conn = self._local.later = None
        for call in later:
            call()

    def after_commit(self, call: Callable[[], None]) -> None:
        """``call()`` once this thread's unit has committed; at once outside a unit. Not after a
        rollback."""
        later = self._local.__dict__.get("later")
        if later is None:
            call()
        else:
            later.append(call)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction of its own, or this thread's unit (a savepoint in it on PostgreSQL)."""
        conn = self._local.__dict__.get("conn")
        if conn is None:
            with self.engine.begin() as conn:
                yield conn
            return
        if self.dialect == "sqlite":
            # No savepoint needed (each costs a fifth of an alert's routing): SQLite undoes a failed
            # statement alone and keeps the transaction, and under the unit's write lock no other writer
            # can come between a method's look and its insert.
            yield conn
            return
        with conn.begin_nested():  # PostgreSQL aborts the whole transaction on an error: contain it
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction, or this thread's unit (which sees its own writes)."""
        conn = self._local.__dict__.get("conn")
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(readonly=True)
            with conn.begin():
                yield conn
