"""The incident ledger: incidents, an append-only timeline, action items.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "timeline is append-only: events are never updated or deleted"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("service", sa.String(200)),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("dedup_key", sa.String(500)),
        sa.Column("open_key", sa.String(500), unique=True),
        sa.Column("runbook", sa.String(200)),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("mitigated_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_severity", "incidents", ["severity"])
    op.create_index("ix_incidents_dedup_key", "incidents", ["dedup_key"])
    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("event_key", sa.String(300)),
        sa.UniqueConstraint("incident_number", "event_key", name="uq_timeline_event_key"),
    )
    op.create_index("ix_timeline_incident", "timeline_events", ["incident_number", "id"])
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("due", sa.Date),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tracker_url", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_action_items_incident", "action_items", ["incident_number"])

    # The timeline's immutability is the database's job, so no code path (or hand-written SQL) can break it.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER timeline_no_{verb.lower()} BEFORE {verb} ON timeline_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION warroom_timeline_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER timeline_append_only BEFORE UPDATE OR DELETE ON timeline_events "
            "FOR EACH ROW EXECUTE FUNCTION warroom_timeline_append_only()"
        )
        op.execute(
            "CREATE TRIGGER timeline_no_truncate BEFORE TRUNCATE ON timeline_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION warroom_timeline_append_only()"
        )


def downgrade() -> None:
    raise RuntimeError("the ledger is not downgraded: incidents and their timelines are kept")
