"""An incident's room in chat: its channel or thread, the pinned summary, and how far the room was told.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_rooms",
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("thread", sa.String(200)),
        sa.Column("summary_ts", sa.String(200)),
        sa.Column("summary", sa.Text),
        sa.Column("topic", sa.Text),
        sa.Column("posted_through", sa.BigInteger, nullable=False),
        sa.Column("invited", sa.JSON, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("chat_rooms")
