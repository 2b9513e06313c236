"""The public status page: the updates people published, their copies on a vendor's page, and scheduled
maintenance.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_number", sa.Integer, sa.ForeignKey("incidents.number"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_status_posts_incident", "status_posts", ["incident_number", "id"])
    op.create_index("ix_status_posts_posted", "status_posts", ["posted_at"])
    op.create_table(
        "status_publications",
        sa.Column("post_id", sa.Integer, sa.ForeignKey("status_posts.id"), primary_key=True),
        sa.Column("provider", sa.String(40), primary_key=True),
        sa.Column("external_id", sa.String(200)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "status_maintenance",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("status_maintenance")
    op.drop_table("status_publications")
    op.drop_index("ix_status_posts_posted", "status_posts")
    op.drop_index("ix_status_posts_incident", "status_posts")
    op.drop_table("status_posts")
