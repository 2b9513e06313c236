"""Run attempts and approval gates: what a restarted or re-entered run needs to carry on where it was.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flow_run_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.Text),
        sa.Column("checkpoint", sa.JSON, nullable=False),
        sa.UniqueConstraint("flow_run_id", "attempt", name="uq_run_attempt"),
    )
    op.create_index("ix_run_attempts_state", "run_attempts", ["state"])
    op.create_index("ix_run_attempts_incident", "run_attempts", ["incident_number"])
    op.create_table(
        "approval_gates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.Integer, sa.ForeignKey("run_attempts.id"), nullable=False),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("proposal", sa.String(200), nullable=False),
        sa.Column("plan_digest", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True)),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("pauses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("granted", sa.JSON, nullable=False),
        sa.Column("adjustments", sa.JSON, nullable=False),
        sa.Column("last_refusal", sa.JSON),
        sa.UniqueConstraint("attempt_id", "proposal", name="uq_gate_per_attempt"),
    )
    op.create_index("ix_approval_gates_state", "approval_gates", ["state"])


def downgrade() -> None:
    op.drop_table("approval_gates")
    op.drop_table("run_attempts")
