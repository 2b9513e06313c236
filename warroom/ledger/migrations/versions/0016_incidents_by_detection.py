"""Incidents by the time they were detected, timeline events by kind: every report reads a period of
incidents and counts their changes, reminders and outcomes by kind.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_detected", "incidents", ["detected_at"])
    op.create_index("ix_timeline_kind", "timeline_events", ["kind", "incident_number"])


def downgrade() -> None:
    op.drop_index("ix_timeline_kind", "timeline_events")
    op.drop_index("ix_incidents_detected", "incidents")
