"""A one-time code is spent for the enrollment that made it: a re-enrolled approver's new authenticator
starts with fresh codes, while every code of an enrollment is still accepted once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approval_codes") as batch:
        batch.add_column(sa.Column("enrollment", sa.String(64), nullable=False, server_default=""))
        batch.drop_constraint("uq_approval_code_once", type_="unique")
        batch.create_unique_constraint("uq_approval_code_once", ["approver", "enrollment", "counter"])


def downgrade() -> None:
    with op.batch_alter_table("approval_codes") as batch:
        batch.drop_constraint("uq_approval_code_once", type_="unique")
        batch.create_unique_constraint("uq_approval_code_once", ["approver", "counter"])
        batch.drop_column("enrollment")
