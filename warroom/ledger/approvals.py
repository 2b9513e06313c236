"""Approvals and identity in the ledger: approvers' sealed secrets and public keys (with every key's
history), one-time codes spent, and who started each flow run. None of it is reachable through the Prefect
API, and none of it is a private key or a bearer value."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.ledger.engine import Database, now, number_of, utc
from warroom.schema import approval_codes, approver_keys, approvers, start_proofs

R = TypeVar("R", bound=Any)

ALERT_STARTER = "alert"  # the starter the receiver vouches for: an authenticated alert, no person


@dataclass(frozen=True)
class ApproverRecord:
    name: str
    totp_sealed: str  # the approval TOTP secret, sealed (see warroom/identity.py); never stored in clear
    ack_totp_sealed: str | None  # the acknowledgement secret; None for approvers enrolled before it
    enrolled_at: datetime
    revoked_at: datetime | None
    revoked_why: str | None


@dataclass(frozen=True)
class KeyRecord:
    fingerprint: str
    approver: str
    public_key: str  # Ed25519, raw bytes as base64
    registered_at: datetime
    retired_at: datetime | None
    retired_why: str | None


@dataclass(frozen=True)
class StartProof:
    flow_run_id: str
    runbook: str
    params_digest: str
    starter: str
    kind: str  # receiver | signed
    key_fingerprint: str | None
    payload_id: int | None


class Approvals(Database):
    def save_approver(
        self,
        name: str,
        totp_sealed: str,
        ack_totp_sealed: str,
        public_key: tuple[str, str] | None,
        *,
        replace: bool,
    ) -> bool:
        """Store an approver's secrets and (fingerprint, key); False when enrolled and not ``replace``.

        Re-enrolling retires the approver's previous keys: their answers fail from now on, saying so."""
        values = {
            "totp_sealed": totp_sealed,
            "ack_totp_sealed": ack_totp_sealed,
            "enrolled_at": now(),
            "revoked_at": None,
            "revoked_why": None,
        }
        try:
            with self._write() as conn:
                existing = conn.execute(select(approvers.c.name).where(approvers.c.name == name)).first()
                if existing is not None and not replace:
                    return False
                if existing is not None:
                    conn.execute(update(approvers).where(approvers.c.name == name).values(**values))
                else:
                    conn.execute(insert(approvers).values(name=name, **values))
                self._retire(conn, name, "replaced when the approver was enrolled again")
                if public_key is not None:
                    self._add_key(conn, name, *public_key)
        except IntegrityError:
            return False
        return True

    def register_key(self, name: str, fingerprint: str, public_key: str) -> None:
        """Make this the approver's one signing key; the keys before it are retired as replaced."""
        with self._write() as conn:
            self._retire(conn, name, f"replaced by key {fingerprint}")
            self._add_key(conn, name, fingerprint, public_key)

    def revoke_approver(self, name: str, why: str) -> bool:
        """Revoke an approver: their keys and codes count for nothing from now on. False if unknown."""
        with self._write() as conn:
            changed = conn.execute(
                update(approvers).where(approvers.c.name == name).values(revoked_at=now(), revoked_why=why)
            ).rowcount
            self._retire(conn, name, f"revoked: {why}")
        return bool(changed)

    def _retire(self, conn: Connection, name: str, why: str) -> None:
        conn.execute(
            update(approver_keys)
            .where(approver_keys.c.approver == name, approver_keys.c.retired_at.is_(None))
            .values(retired_at=now(), retired_why=why)
        )

    def _add_key(self, conn: Connection, name: str, fingerprint: str, public_key: str) -> None:
        conn.execute(
            insert(approver_keys).values(
                fingerprint=fingerprint, approver=name, public_key=public_key, registered_at=now()
            )
        )

    def approver(self, name: str) -> ApproverRecord | None:
        with self._read() as conn:
            row = conn.execute(select(approvers).where(approvers.c.name == name)).mappings().first()
        if row is None:
            return None
        return _record(ApproverRecord, row, "enrolled_at", "revoked_at")

    def approver_names(self) -> list[str]:
        with self._read() as conn:
            return [str(r[0]) for r in conn.execute(select(approvers.c.name).order_by(approvers.c.name))]

    def signing_key(self, fingerprint: str) -> KeyRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(select(approver_keys).where(approver_keys.c.fingerprint == fingerprint))
                .mappings()
                .first()
            )
        return None if row is None else _key(row)

    def signing_keys(self, name: str) -> list[KeyRecord]:
        """Every key NAME ever had, oldest first (the current one has no ``retired_at``)."""
        with self._read() as conn:
            rows = conn.execute(
                select(approver_keys)
                .where(approver_keys.c.approver == name)
                .order_by(approver_keys.c.registered_at)
            ).mappings()
            return [_key(r) for r in rows]

    def use_code(
        self, approver: str, counter: int, ref: str | int | None = None, *, enrollment: str = ""
    ) -> bool:
        """Mark a one-time code (of this enrollment's secret) as used; False when it was used before."""
        try:
            with self._write() as conn:
                conn.execute(
                    insert(approval_codes).values(
                        approver=approver,
                        counter=counter,
                        enrollment=enrollment,
                        used_at=now(),
                        incident_number=None if ref is None else number_of(ref),
                    )
                )
        except IntegrityError:
            return False
        return True

    def vouch_start(
        self,
        flow_run_id: str,
        *,
        runbook: str,
        params_digest: str,
        starter: str,
        kind: str,
        key_fingerprint: str | None = None,
        signature: str | None = None,
        payload_id: int | None = None,
    ) -> StartProof:
        """Bind who started ``flow_run_id`` to it and its parameters' digest. A run is vouched for once:
        the proof already there stands (a retried launch, a re-entered run) and is returned."""
        try:
            with self._write() as conn:
                conn.execute(
                    insert(start_proofs).values(
                        flow_run_id=flow_run_id,
                        runbook=runbook,
                        params_digest=params_digest,
                        starter=starter,
                        kind=kind,
                        key_fingerprint=key_fingerprint,
                        signature=signature,
                        payload_id=payload_id,
                        vouched_at=now(),
                    )
                )
        except IntegrityError:
            pass
        found = self.start_proof(flow_run_id)
        assert found is not None
        return found

    def start_proof(self, flow_run_id: str) -> StartProof | None:
        with self._read() as conn:
            row = (
                conn.execute(select(start_proofs).where(start_proofs.c.flow_run_id == flow_run_id))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return _record(StartProof, row)


def _key(row: RowMapping) -> KeyRecord:
    return _record(KeyRecord, row, "registered_at", "retired_at")


def _record(cls: type[R], row: RowMapping, *times: str) -> R:
    """A record of ``cls`` from a row: its fields by name, the named times as UTC."""
    return cls(
        **{f.name: utc(row[f.name]) if f.name in times else row[f.name] for f in dataclass_fields(cls)}
    )
