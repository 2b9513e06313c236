"""Whether an incident room's summary is pinned yet: posted and pinned are two calls, and Slack may rate-limit
the second, so the pin is tried again on a later pass rather than the summary posted twice.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_rooms") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("chat_rooms") as batch:
        batch.drop_column("pinned")
