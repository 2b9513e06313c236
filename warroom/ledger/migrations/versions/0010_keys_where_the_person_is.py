"""Keys made where the person is, starts proven per flow run, a secret per purpose.

- ``approver_keys``: every public key registered, retired ones kept with why. The keys enrollment made on
  the Warroom host before this revision had their private halves on that host: they are retired here, so
  their answers fail with that reason until the person registers a key made on their own machine.
- ``approvers.ack_totp_sealed``: a second TOTP secret, for acknowledgements only; ``revoked_at``.
- ``start_proofs`` replaces ``run_starts``: a one-time token in a run's parameters was a bearer secret any
  Prefect API user could read and spend on a run of their own.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HOST_MADE = "made on the Warroom host before keys were made on the person's machine: register a new one"


def upgrade() -> None:
    op.create_table(
        "approver_keys",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(100), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("retired_why", sa.Text),
    )
    op.create_index("ix_approver_keys_approver", "approver_keys", ["approver"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT name, public_key, enrolled_at FROM approvers")).mappings().all()
    for r in rows:  # plain SQL both ways: each dialect gets its own stored value back
        conn.execute(
            sa.text(
                "INSERT INTO approver_keys (fingerprint, approver, public_key, registered_at, retired_at, "
                "retired_why) VALUES (:fingerprint, :approver, :key, :at, :at, :why)"
            ),
            {
                "fingerprint": hashlib.sha256(r["public_key"].encode()).hexdigest()[:16],
                "approver": r["name"],
                "key": r["public_key"],
                "at": r["enrolled_at"],
                "why": HOST_MADE,
            },
        )
    with op.batch_alter_table("approvers") as batch:
        batch.drop_column("public_key")
        batch.add_column(sa.Column("ack_totp_sealed", sa.Text))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revoked_why", sa.Text))
    op.drop_table("run_starts")
    op.create_table(
        "start_proofs",
        sa.Column("flow_run_id", sa.String(64), primary_key=True),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("starter", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key_fingerprint", sa.String(64)),
        sa.Column("signature", sa.Text),
        sa.Column("payload_id", sa.Integer),
        sa.Column("vouched_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("start_proofs")
    op.create_table(
        "run_starts",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("redeemed_at", sa.DateTime(timezone=True)),
    )
    with op.batch_alter_table("approvers") as batch:
        batch.drop_column("revoked_why")
        batch.drop_column("revoked_at")
        batch.drop_column("ack_totp_sealed")
        batch.add_column(sa.Column("public_key", sa.Text, nullable=False, server_default=""))
    op.drop_index("ix_approver_keys_approver", "approver_keys")
    op.drop_table("approver_keys")
