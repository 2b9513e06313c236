"""Approvals and identity in the ledger: approvers' sealed credentials, one-time codes spent, proven run
starts. None of it is reachable through the Prefect API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from warroom.ledger.engine import Database, now, number_of, utc
from warroom.schema import approval_codes, approvers, run_starts

ALERT_STARTER = "alert"  # the starter the receiver vouches for: an authenticated alert, no person


@dataclass(frozen=True)
class ApproverRecord:
    name: str
    totp_sealed: str  # the TOTP secret, sealed (see warroom/identity.py); never stored in clear
    public_key: str  # Ed25519, raw bytes as base64
    enrolled_at: datetime


class Approvals(Database):
    def save_approver(self, name: str, totp_sealed: str, public_key: str, *, replace: bool) -> bool:
        """Store an approver's credentials; False when enrolled already and ``replace`` is not given."""
        values = {"totp_sealed": totp_sealed, "public_key": public_key, "enrolled_at": now()}
        with self.engine.begin() as conn:
            if replace:
                if conn.execute(update(approvers).where(approvers.c.name == name).values(**values)).rowcount:
                    return True
            try:
                conn.execute(insert(approvers).values(name=name, **values))
            except IntegrityError:
                return False
        return True

    def approver(self, name: str) -> ApproverRecord | None:
        with self._read() as conn:
            row = conn.execute(select(approvers).where(approvers.c.name == name)).mappings().first()
        if row is None:
            return None
        return ApproverRecord(row["name"], row["totp_sealed"], row["public_key"], utc(row["enrolled_at"]))  # type: ignore[arg-type]

    def use_code(
        self, approver: str, counter: int, ref: str | int | None = None, *, enrollment: str = ""
    ) -> bool:
        """Mark a one-time code (of this enrollment's secret) as used; False when it was used before."""
        try:
            with self.engine.begin() as conn:
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

    def issue_start(self, requested_by: str) -> str:
        """A one-time token that proves to the run it is given to who started it."""
        token = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(insert(run_starts).values(token=token, requested_by=requested_by, issued_at=now()))
        return token

    def redeem_start(self, token: str, flow_run_id: str) -> str | None:
        """Who started ``flow_run_id``, if ``token`` was issued and not redeemed by another run.

        The same run redeeming again (a re-entered attempt) gets the same answer."""
        with self.engine.begin() as conn:
            row = conn.execute(select(run_starts).where(run_starts.c.token == token)).mappings().first()
            if row is None:
                return None
            if row["flow_run_id"] is None:
                changed = conn.execute(
                    update(run_starts)
                    .where(run_starts.c.token == token, run_starts.c.flow_run_id.is_(None))
                    .values(flow_run_id=flow_run_id, redeemed_at=now())
                ).rowcount
                return str(row["requested_by"]) if changed else None
            return str(row["requested_by"]) if row["flow_run_id"] == flow_run_id else None
