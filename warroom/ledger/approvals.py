"""Approval codes spent: a one-time code counts once, whichever process judges it."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from warroom.ledger.engine import Database, now, number_of
from warroom.schema import approval_codes


class Approvals(Database):
    def use_code(self, approver: str, counter: int, ref: str | int | None = None) -> bool:
        """Mark a one-time code as used; False when it was used before (a replay)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(approval_codes).values(
                        approver=approver,
                        counter=counter,
                        used_at=now(),
                        incident_number=None if ref is None else number_of(ref),
                    )
                )
        except IntegrityError:
            return False
        return True
