"""An on-call override can be cancelled: kept, with who cancelled it, when and why.

A cancelled override no longer puts its person on call from the moment it was cancelled; its row stays, so
the schedule's history (who was on call when a page went out) is still true afterwards.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oncall_overrides") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("cancelled_by", sa.String(200)))
        batch.add_column(sa.Column("cancelled_why", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("oncall_overrides") as batch:
        batch.drop_column("cancelled_why")
        batch.drop_column("cancelled_by")
        batch.drop_column("cancelled_at")
