"""Approvers' credentials (sealed) and proven run starts: identity kept in Warroom's store, not Prefect's.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvers",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("totp_sealed", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "run_starts",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("redeemed_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("run_starts")
    op.drop_table("approvers")
