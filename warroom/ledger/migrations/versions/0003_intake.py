"""Alert intake: every raw payload as received, and every runbook launch until it is done.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_payloads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("remote", sa.String(100)),
        sa.Column("content_type", sa.String(200)),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("alerts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_alert_payloads_state", "alert_payloads", ["state"])
    op.create_table(
        "alert_launches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("payload_id", sa.Integer, sa.ForeignKey("alert_payloads.id"), nullable=False),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("dedup_key", sa.String(500), nullable=False),
        sa.Column("alert", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_launches_state", "alert_launches", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("alert_launches")
    op.drop_table("alert_payloads")
