"""The incident ledger: incidents, their append-only timelines and action items, on SQLAlchemy 2.

SQLite (WAL) by default, PostgreSQL by URL. Invariants live in the database: one open incident per
dedup key (a unique column), and a timeline that triggers refuse to update or delete.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Engine, RowMapping, create_engine, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError
from sqlalchemy.exc import NoSuchModuleError as NoSuchDialect

from warroom.incident import (
    ActionItem,
    ActionItemStatus,
    Incident,
    Role,
    Roles,
    Severity,
    Status,
    TimelineEvent,
    check_transition,
    incident_ref,
    parse_incident_ref,
)
from warroom.redact import redact, redact_text
from warroom.schema import (
    action_items,
    alert_launches,
    alert_payloads,
    approval_codes,
    incidents,
    timeline_events,
)

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0004"  # the newest migration; a test keeps this in step with warroom/migrations/versions
PG_MIGRATION_LOCK = 0x5741_5252  # "WARR": serializes concurrent first starts on one PostgreSQL database


class StoreError(RuntimeError):
    """A ledger operation that cannot be done, with a message fit for the terminal."""


class StoreUnavailable(StoreError):
    """The ledger's database cannot be reached or opened."""


class NotFound(StoreError):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_text(url)


@dataclass(frozen=True)
class Opened:
    """What ``open_or_attach`` did: the incident, and whether this call created it."""

    incident: Incident
    created: bool


def _install_sqlite_pragmas(engine: Engine) -> None:
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
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _row_incident(row: RowMapping) -> Incident:
    return Incident(
        id=incident_ref(row["number"]),
        number=row["number"],
        title=row["title"],
        service=row["service"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        dedup_key=row["dedup_key"],
        runbook=row["runbook"],
        roles=Roles.model_validate(row["roles"] or {}),
        detected_at=_utc(row["detected_at"]),
        acknowledged_at=_utc(row["acknowledged_at"]),
        mitigated_at=_utc(row["mitigated_at"]),
        resolved_at=_utc(row["resolved_at"]),
        closed_at=_utc(row["closed_at"]),
    )


def _row_event(row: RowMapping) -> TimelineEvent:
    return TimelineEvent(
        id=row["id"],
        incident=incident_ref(row["incident_number"]),
        at=_utc(row["at"]),
        kind=row["kind"],
        actor=row["actor"],
        text=row["text"],
        data=row["data"] or {},
        key=row["event_key"],
    )


def _row_action(row: RowMapping) -> ActionItem:
    return ActionItem(
        id=row["id"],
        incident=incident_ref(row["incident_number"]),
        title=row["title"],
        owner=row["owner"],
        due=row["due"],
        status=ActionItemStatus(row["status"]),
        tracker_url=row["tracker_url"],
        created_at=_utc(row["created_at"]),
        completed_at=_utc(row["completed_at"]),
    )


def _number(ref: str | int) -> int:
    return ref if isinstance(ref, int) else parse_incident_ref(ref)


class Store:
    """The ledger. Every write is one transaction; every change of state leaves a timeline event."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.display_url = safe_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreUnavailable(f"not a database URL: {self.display_url}") from None
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            self.engine = create_engine(url, **kwargs)
        except (NoSuchDialect, ModuleNotFoundError, ArgumentError) as exc:
            raise StoreUnavailable(f"cannot use database {self.display_url}: {exc}") from None
        if self.dialect == "sqlite":
            _install_sqlite_pragmas(self.engine)
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
    def from_settings(cls, settings: Any = None) -> Store:
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

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(readonly=True)
            with conn.begin():
                yield conn

    # -- incidents ----------------------------------------------------------------------------------
    def open_or_attach(
        self,
        dedup_key: str,
        *,
        title: str,
        severity: Severity,
        service: str | None = None,
        runbook: str | None = None,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        event: tuple[str, str] | None = None,
    ) -> Opened:
        """Open an incident for ``dedup_key``, or attach to the one already open for it.

        ``event`` (kind, text) is what the incident's first event, or the attach event, says.

        Safe under concurrency: the database lets exactly one insert win; the losers attach to it.
        """
        if not dedup_key:
            raise StoreError("a dedup key is required to open or attach an incident")
        for _ in range(20):
            try:
                with self.engine.begin() as conn:
                    # Re-fired alerts are the common case: look first, insert only when nothing is open.
                    row = (
                        conn.execute(select(incidents).where(incidents.c.open_key == dedup_key))
                        .mappings()
                        .first()
                    )
                    if row is None:
                        incident = self._insert_incident(
                            conn, title, severity, service, runbook, dedup_key, actor, data, at, event
                        )
                        return Opened(incident, created=True)
                    kind, text = event or ("incident.attached", f"attached: {title}")
                    self._append(
                        conn,
                        row["number"],
                        kind,
                        text,
                        actor=actor,
                        data={"dedup_key": dedup_key, **(data or {})},
                        at=at,
                    )
                    return Opened(_row_incident(row), created=False)
            except IntegrityError:
                continue  # another process opened it between our look and our insert: attach to theirs
        raise StoreError(f"could not open or attach an incident for {dedup_key!r}: too much contention")

    def open_incident(
        self,
        *,
        title: str,
        severity: Severity,
        service: str | None = None,
        runbook: str | None = None,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Incident:
        """Open an incident with no dedup key (declared by hand)."""
        with self.engine.begin() as conn:
            return self._insert_incident(conn, title, severity, service, runbook, None, actor, data, at, None)

    def _insert_incident(
        self,
        conn: Connection,
        title: str,
        severity: Severity,
        service: str | None,
        runbook: str | None,
        dedup_key: str | None,
        actor: str,
        data: dict[str, Any] | None,
        at: datetime | None,
        event: tuple[str, str] | None,
    ) -> Incident:
        detected = at or now()
        number = conn.execute(
            insert(incidents)
            .values(
                title=redact_text(title),
                service=service,
                severity=Severity(severity).value,
                status=Status.DETECTED.value,
                dedup_key=dedup_key,
                open_key=dedup_key,
                runbook=runbook,
                roles=Roles().model_dump(),
                detected_at=detected,
            )
            .returning(incidents.c.number)
        ).scalar_one()
        kind, text = event or ("incident.opened", f"incident opened: {title}")
        self._append(
            conn,
            number,
            kind,
            text,
            actor=actor,
            data={"severity": Severity(severity).value, "dedup_key": dedup_key, **(data or {})},
            at=detected,
        )
        row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return _row_incident(row)

    def get(self, ref: str | int) -> Incident:
        number = _number(ref)
        with self._read() as conn:
            row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_ref(number)}")
        return _row_incident(row)

    def find_open(self, dedup_key: str) -> Incident | None:
        with self._read() as conn:
            row = conn.execute(select(incidents).where(incidents.c.open_key == dedup_key)).mappings().first()
        return _row_incident(row) if row else None

    def list_incidents(
        self,
        *,
        status: Status | Sequence[Status] | None = None,
        severity: Severity | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Incident]:
        """Newest first."""
        q = select(incidents).order_by(incidents.c.number.desc())
        if status is not None:
            wanted = [status] if isinstance(status, Status) else list(status)
            q = q.where(incidents.c.status.in_([s.value for s in wanted]))
        if severity is not None:
            q = q.where(incidents.c.severity == Severity(severity).value)
        if since is not None:
            q = q.where(incidents.c.detected_at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [_row_incident(r) for r in conn.execute(q).mappings()]

    def latest_for_key(self, dedup_key: str) -> Incident | None:
        """The newest incident, open or not, that carries ``dedup_key``."""
        with self._read() as conn:
            row = (
                conn.execute(
                    select(incidents)
                    .where(incidents.c.dedup_key == dedup_key)
                    .order_by(incidents.c.number.desc())
                )
                .mappings()
                .first()
            )
        return _row_incident(row) if row else None

    def count_incidents(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(incidents)).scalar_one())

    # -- the timeline -------------------------------------------------------------------------------
    def append(
        self,
        ref: str | int,
        kind: str,
        text: str,
        *,
        actor: str = "warroom",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> TimelineEvent:
        """Add an event. With ``key``, recording the same fact again returns the first event unchanged."""
        number = _number(ref)
        try:
            with self.engine.begin() as conn:
                return self._append(conn, number, kind, text, actor=actor, data=data, at=at, key=key)
        except IntegrityError:
            if key is not None:  # a concurrent recording of the same fact won the race
                with self._read() as conn:
                    row = (
                        conn.execute(
                            select(timeline_events).where(
                                timeline_events.c.incident_number == number,
                                timeline_events.c.event_key == key,
                            )
                        )
                        .mappings()
                        .first()
                    )
                if row is not None:
                    return _row_event(row)
            # Otherwise the foreign key refused it: there is no such incident.
            raise NotFound(f"no incident {incident_ref(number)}") from None

    def _append(
        self,
        conn: Connection,
        number: int,
        kind: str,
        text: str,
        *,
        actor: str,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> TimelineEvent:
        if key is not None:
            existing = (
                conn.execute(
                    select(timeline_events).where(
                        timeline_events.c.incident_number == number, timeline_events.c.event_key == key
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                return _row_event(existing)
        values = {
            "incident_number": number,
            "at": at or now(),
            "kind": kind,
            "actor": actor,
            "text": redact_text(text),
            "data": redact(to_jsonable_python(data or {})),
            "event_key": key,
        }
        event_id = conn.execute(
            insert(timeline_events).values(**values).returning(timeline_events.c.id)
        ).scalar_one()
        return _row_event({**values, "id": event_id})  # type: ignore[arg-type]

    def timeline(self, ref: str | int) -> list[TimelineEvent]:
        """The incident's events in the order they were recorded."""
        number = _number(ref)
        with self._read() as conn:
            self._require(conn, number)
            rows = conn.execute(
                select(timeline_events)
                .where(timeline_events.c.incident_number == number)
                .order_by(timeline_events.c.id)
            ).mappings()
            return [_row_event(r) for r in rows]

    def event_by_key(self, ref: str | int, key: str) -> TimelineEvent | None:
        """The event recorded under ``key`` on this incident, if any."""
        with self._read() as conn:
            row = (
                conn.execute(
                    select(timeline_events).where(
                        timeline_events.c.incident_number == _number(ref), timeline_events.c.event_key == key
                    )
                )
                .mappings()
                .first()
            )
        return _row_event(row) if row else None

    def events_keyed(self, ref: str | int, prefix: str) -> list[TimelineEvent]:
        """Events whose key starts with ``prefix``, in recorded order."""
        with self._read() as conn:
            rows = conn.execute(
                select(timeline_events)
                .where(
                    timeline_events.c.incident_number == _number(ref),
                    timeline_events.c.event_key.startswith(prefix, autoescape=True),
                )
                .order_by(timeline_events.c.id)
            ).mappings()
            return [_row_event(r) for r in rows]

    def _require(self, conn: Connection, number: int) -> RowMapping:
        row = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
        if row is None:
            raise NotFound(f"no incident {incident_ref(number)}")
        return row

    # -- changes of state ---------------------------------------------------------------------------
    def set_status(
        self,
        ref: str | int,
        status: Status,
        *,
        actor: str = "warroom",
        text: str | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
        key: str | None = None,
    ) -> Incident:
        """Move the incident along its state machine; illegal moves raise ``IllegalTransition``."""
        number = _number(ref)
        status = Status(status)
        when = at or now()
        with self.engine.begin() as conn:
            row = self._require(conn, number)
            if key is not None and self._has_key(conn, number, key):
                return _row_incident(row)
            current = Status(row["status"])
            check_transition(incident_ref(number), current, status)
            values: dict[str, Any] = {"status": status.value}
            if status in (Status.RESOLVED, Status.CLOSED):
                values["open_key"] = None
            elif not current.is_open:
                values["open_key"] = row["dedup_key"]  # reopened: it owns its key again
            if status is Status.MONITORING and row["mitigated_at"] is None:
                values["mitigated_at"] = when
            if status is Status.RESOLVED:
                values["resolved_at"] = when
                if row["mitigated_at"] is None:
                    values["mitigated_at"] = when
            if status is Status.CLOSED:
                values["closed_at"] = when
            try:
                changed = conn.execute(
                    update(incidents)
                    .where(incidents.c.number == number, incidents.c.status == current.value)
                    .values(**values)
                ).rowcount
            except IntegrityError:
                raise StoreError(
                    f"{incident_ref(number)} cannot be reopened: another incident is open for "
                    f"{row['dedup_key']!r}"
                ) from None
            if changed != 1:
                raise StoreError(f"{incident_ref(number)} changed while updating its status; try again")
            self._append(
                conn,
                number,
                "status.changed",
                text or f"status {current.value} -> {status.value}",
                actor=actor,
                data={"from": current.value, "to": status.value, **(data or {})},
                at=when,
                key=key,
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return _row_incident(new)

    def _has_key(self, conn: Connection, number: int, key: str) -> bool:
        return (
            conn.execute(
                select(timeline_events.c.id).where(
                    timeline_events.c.incident_number == number, timeline_events.c.event_key == key
                )
            ).first()
            is not None
        )

    def set_severity(
        self,
        ref: str | int,
        level: Severity,
        *,
        actor: str = "warroom",
        reason: str = "",
        key: str | None = None,
    ) -> Incident:
        number = _number(ref)
        level = Severity(level)
        with self.engine.begin() as conn:
            row = self._require(conn, number)
            if key is not None and self._has_key(conn, number, key):
                return _row_incident(row)
            old = row["severity"]
            conn.execute(update(incidents).where(incidents.c.number == number).values(severity=level.value))
            text = f"severity {old} -> {level.value}" if old != level.value else f"severity {level.value}"
            self._append(
                conn,
                number,
                "severity.set",
                f"{text}{': ' + reason if reason else ''}",
                actor=actor,
                data={"from": old, "to": level.value, "reason": reason},
                key=key,
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return _row_incident(new)

    def assign_role(self, ref: str | int, role: Role, person: str, *, actor: str = "warroom") -> Incident:
        number = _number(ref)
        role = Role(role)
        with self.engine.begin() as conn:
            row = self._require(conn, number)
            roles = Roles.model_validate(row["roles"] or {}).with_assignment(role, person)
            conn.execute(
                update(incidents).where(incidents.c.number == number).values(roles=roles.model_dump())
            )
            self._append(
                conn,
                number,
                "role.assigned",
                f"{role.value.replace('_', ' ')}: {person}",
                actor=actor,
                data={"role": role.value, "person": person},
            )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return _row_incident(new)

    def acknowledge(self, ref: str | int, *, actor: str, at: datetime | None = None) -> Incident:
        """A human has taken the incident; the first acknowledgement sets the MTTA clock."""
        number = _number(ref)
        with self.engine.begin() as conn:
            row = self._require(conn, number)
            if row["acknowledged_at"] is None:
                when = at or now()
                conn.execute(
                    update(incidents).where(incidents.c.number == number).values(acknowledged_at=when)
                )
                self._append(
                    conn, number, "incident.acknowledged", f"acknowledged by {actor}", actor=actor, at=when
                )
            new = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().one()
        return _row_incident(new)

    # -- approvals -----------------------------------------------------------------------------------------
    def use_code(self, approver: str, counter: int, ref: str | int | None = None) -> bool:
        """Mark a one-time code as used; False when it was used before (a replay)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(approval_codes).values(
                        approver=approver,
                        counter=counter,
                        used_at=now(),
                        incident_number=None if ref is None else _number(ref),
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- alert intake ----------------------------------------------------------------------------------------
    def save_payload(self, source: str, body: bytes, *, remote: str | None, content_type: str | None) -> int:
        """Keep a raw alert body exactly as received, before anything else is done with it."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(alert_payloads)
                    .values(
                        received_at=now(),
                        source=source,
                        remote=remote,
                        content_type=content_type,
                        body=body,
                        state="received",
                        alerts=0,
                    )
                    .returning(alert_payloads.c.id)
                ).scalar_one()
            )

    def mark_payload(self, payload_id: int, state: str, *, error: str | None = None, alerts: int = 0) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_payloads)
                .where(alert_payloads.c.id == payload_id)
                .values(state=state, error=error, alerts=alerts)
            )

    def payload(self, payload_id: int) -> dict[str, Any]:
        with self._read() as conn:
            row = (
                conn.execute(select(alert_payloads).where(alert_payloads.c.id == payload_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no alert payload {payload_id}")
        return dict(row)

    def payloads(self, state: str | None = None) -> list[dict[str, Any]]:
        q = select(alert_payloads).order_by(alert_payloads.c.id)
        if state is not None:
            q = q.where(alert_payloads.c.state == state)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def queue_launch(
        self, key: str, *, payload_id: int, incident: int, runbook: str, dedup_key: str, alert: dict[str, Any]
    ) -> bool:
        """Queue a runbook launch once per key; False when it was queued before (a retry or a storm)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(alert_launches).values(
                        idempotency_key=key,
                        payload_id=payload_id,
                        incident_number=incident,
                        runbook=runbook,
                        dedup_key=dedup_key,
                        alert=alert,
                        state="pending",
                        attempts=0,
                        next_attempt_at=now(),
                        created_at=now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def due_launches(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(alert_launches)
                .where(
                    alert_launches.c.state.in_(["pending", "failed"]),
                    alert_launches.c.next_attempt_at <= now(),
                )
                .order_by(alert_launches.c.id)
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def launch_done(self, launch_id: int, flow_run_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_launches)
                .where(alert_launches.c.id == launch_id)
                .values(
                    state="launched",
                    flow_run_id=flow_run_id,
                    error=None,
                    attempts=alert_launches.c.attempts + 1,
                )
            )

    def launch_failed(self, launch_id: int, error: str, retry_at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_launches)
                .where(alert_launches.c.id == launch_id)
                .values(
                    state="failed",
                    error=redact_text(error),
                    next_attempt_at=retry_at,
                    attempts=alert_launches.c.attempts + 1,
                )
            )

    def launches(self, incident: int | None = None) -> list[dict[str, Any]]:
        q = select(alert_launches).order_by(alert_launches.c.id)
        if incident is not None:
            q = q.where(alert_launches.c.incident_number == incident)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- action items -------------------------------------------------------------------------------
    def add_action_item(
        self,
        ref: str | int,
        title: str,
        *,
        owner: str | None = None,
        due: date | None = None,
        tracker_url: str | None = None,
        actor: str = "warroom",
    ) -> ActionItem:
        number = _number(ref)
        with self.engine.begin() as conn:
            self._require(conn, number)
            values = {
                "incident_number": number,
                "title": title,
                "owner": owner,
                "due": due,
                "status": ActionItemStatus.OPEN.value,
                "tracker_url": tracker_url,
                "created_at": now(),
                "completed_at": None,
            }
            item_id = conn.execute(
                insert(action_items).values(**values).returning(action_items.c.id)
            ).scalar_one()
            self._append(
                conn,
                number,
                "action_item.added",
                f"action item: {title}",
                actor=actor,
                data={"action_item": item_id, "owner": owner, "due": due, "tracker_url": tracker_url},
            )
            return _row_action({**values, "id": item_id})  # type: ignore[arg-type]

    def update_action_item(
        self,
        item_id: int,
        *,
        status: ActionItemStatus | None = None,
        tracker_url: str | None = None,
        actor: str = "warroom",
    ) -> ActionItem:
        with self.engine.begin() as conn:
            row = conn.execute(select(action_items).where(action_items.c.id == item_id)).mappings().first()
            if row is None:
                raise NotFound(f"no action item {item_id}")
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = ActionItemStatus(status).value
                values["completed_at"] = now() if status is not ActionItemStatus.OPEN else None
            if tracker_url is not None:
                values["tracker_url"] = tracker_url
            if values:
                conn.execute(update(action_items).where(action_items.c.id == item_id).values(**values))
                self._append(
                    conn,
                    row["incident_number"],
                    "action_item.updated",
                    f"action item {item_id}: {row['title']}"
                    + (f" is {values['status']}" if "status" in values else ""),
                    actor=actor,
                    data={"action_item": item_id, **{k: v for k, v in values.items() if k != "completed_at"}},
                )
            new = conn.execute(select(action_items).where(action_items.c.id == item_id)).mappings().one()
        return _row_action(new)

    def action_items(
        self, ref: str | int | None = None, *, status: ActionItemStatus | None = None
    ) -> list[ActionItem]:
        q = select(action_items).order_by(action_items.c.id)
        if ref is not None:
            q = q.where(action_items.c.incident_number == _number(ref))
        if status is not None:
            q = q.where(action_items.c.status == ActionItemStatus(status).value)
        with self._read() as conn:
            return [_row_action(r) for r in conn.execute(q).mappings()]
