"""Leases: which one process of a cluster does a job (the launch loop, the keeper) while it is alive.

A holder renews its lease well within its lifetime; when the holder dies (``kill -9``, a lost machine),
the lease expires and the next process that asks takes it. The database decides, so this holds for any
number of receivers on one ledger (SQLite or PostgreSQL).

A process restarted on the same machine need not wait out its dead predecessor's lease: a holder's name
says its machine (host name, boot and process namespace) and pid, and a lease whose holder is on this
machine and whose process is gone is taken at once. Anywhere else, or when in doubt, it runs out first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, true, update
from sqlalchemy.exc import IntegrityError

from warroom.ledger.engine import Database, now, utc
from warroom.schema import leases

log = logging.getLogger("warroom.leases")


@dataclass(frozen=True)
class Held:
    """The answer to asking for a lease: held or not, and from whom it was taken when it changed hands."""

    held: bool
    holder: str
    expires_at: datetime | None
    taken_from: str | None = None  # the previous holder, whose lease had expired or whose process is gone


def _machine() -> str:
    """This machine as a short token: the same host name in two containers is not the same process table."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pids = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""  # cannot tell: leases from here are only ever taken when they expire
    parts = [socket.gethostname(), boot, pids]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:6]


MACHINE = _machine()


def holder_name(role: str) -> str:
    """``role@host:pid:start:machine``, as an operator reads it; the start suffix is unique per process."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:{MACHINE}"


def abandoned(holder: str) -> bool:
    """Whether ``holder`` was a process on this machine that no longer runs."""
    try:
        _, rest = holder.split("@", 1)
        _host, pid, _start, machine = rest.rsplit(":", 3)
        pid_number = int(pid)
    except ValueError:
        return False
    if not MACHINE or machine != MACHINE or pid_number == os.getpid() or pid_number <= 0:
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class Leases(Database):
    def hold(self, name: str, holder: str, seconds: float) -> Held:
        """Renew ``name`` for ``holder``, or take it when it has expired or was never held."""
        at = now()
        until = at + timedelta(seconds=seconds)
        with self._write() as conn:
            renewed = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=until)
            ).rowcount
            if renewed:
                return Held(True, holder, until)
            current = conn.execute(select(leases).where(leases.c.name == name)).mappings().first()
            if current is not None:
                gone = abandoned(str(current["holder"]))
                taken = conn.execute(
                    update(leases)
                    .where(
                        leases.c.name == name,
                        leases.c.holder == current["holder"],
                        true() if gone else leases.c.expires_at < at,
                    )
                    .values(holder=holder, acquired_at=at, expires_at=until)
                ).rowcount
                if taken:
                    return Held(True, holder, until, taken_from=str(current["holder"]))
                return Held(False, str(current["holder"]), utc(current["expires_at"]))
        try:
            with self._write() as conn:
                conn.execute(
                    insert(leases).values(name=name, holder=holder, acquired_at=at, expires_at=until)
                )
        except IntegrityError:  # another process took it first
            return Held(False, self.lease_holder(name) or "", None)
        return Held(True, holder, until)

    def release(self, name: str, holder: str) -> None:
        """Give the lease up now (a clean stop), so the next process need not wait for it to expire."""
        with self._write() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=now())
            )

    def lease_holder(self, name: str) -> str | None:
        """Who holds ``name`` now; None when nobody does (never held, or expired)."""
        with self._read() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).mappings().first()
        if row is None or utc(row["expires_at"]) <= now():  # type: ignore[operator]
            return None
        return str(row["holder"])


@dataclass
class Lease:
    """One process's claim on a cluster job, as the job's loop asks for it each pass."""

    store: Leases
    name: str  # the job: ``launch-loop``, ``keeper``
    role: str  # how this process's holder name begins
    seconds: float
    # Who holds it, as an operator reads it: host, process, a per-start suffix and the machine token.
    holder: str = field(init=False)

    def __post_init__(self) -> None:
        self.holder = holder_name(self.role)

    def leading(self) -> bool:
        """Hold (or renew) the lease; only its holder does the job."""
        held = self.store.hold(self.name, self.holder, self.seconds)
        if held.taken_from:
            log.warning("%s: %s took over from %s", self.name, self.holder, held.taken_from)
        return held.held

    def release(self) -> None:
        """Give it up on a clean stop; when the ledger is gone too, the lease expires by itself."""
        try:
            self.store.release(self.name, self.holder)
        except Exception:
            log.warning("%s: %s could not release its lease", self.name, self.holder)
