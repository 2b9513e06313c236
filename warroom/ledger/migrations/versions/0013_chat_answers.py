"""Approvals asked in chat: the message with the buttons per gate, and the answers the receiver vouches for.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_asks",
        sa.Column("gate_id", sa.Integer, sa.ForeignKey("approval_gates.id"), primary_key=True),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("message", sa.String(200), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled", sa.String(20)),
    )
    op.create_table(
        "chat_answers",
        sa.Column("answer_id", sa.String(64), primary_key=True),
        sa.Column("gate_id", sa.Integer, sa.ForeignKey("approval_gates.id"), nullable=False),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("plan_digest", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("approver", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("chat_user", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("adjustments", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_answers")
    op.drop_table("chat_asks")
