"""One-time approval codes already used, so a code is accepted once.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number")),
        sa.UniqueConstraint("approver", "counter", name="uq_approval_code_once"),
    )


def downgrade() -> None:
    op.drop_table("approval_codes")
