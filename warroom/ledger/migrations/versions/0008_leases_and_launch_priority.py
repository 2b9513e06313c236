"""More than one receiver on one ledger: leases (the launch loop and the keeper run once per cluster, and
another process takes over when the holder dies), and launches ordered by severity (a P1 before P4s).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("alert_launches") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="4"))
    op.create_index("ix_alert_launches_due", "alert_launches", ["state", "priority", "id"])


def downgrade() -> None:
    op.drop_index("ix_alert_launches_due", "alert_launches")
    with op.batch_alter_table("alert_launches") as batch:
        batch.drop_column("priority")
    op.drop_table("leases")
