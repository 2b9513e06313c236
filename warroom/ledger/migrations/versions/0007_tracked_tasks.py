"""Tasks opened in a tracker for an incident (the incident, its review, each action item): the tracker's
key and URL, kept so that no re-run opens one twice.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracked_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("tracker", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tracker", "incident_number", "ref", name="uq_tracked_task"),
    )


def downgrade() -> None:
    op.drop_table("tracked_tasks")
