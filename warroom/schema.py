"""The ledger's tables (SQLAlchemy Core). Migrations in ``warroom/ledger/migrations`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

incidents = Table(
    "incidents",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("service", String(200)),
    Column("severity", String(2), nullable=False),
    Column("status", String(20), nullable=False),
    Column("dedup_key", String(500)),
    # Equal to dedup_key while the incident is open, NULL once resolved: the unique constraint on it is
    # what makes "at most one open incident per key" hold across processes.
    Column("open_key", String(500), unique=True),
    Column("runbook", String(200)),
    Column("roles", JSON, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("mitigated_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Index("ix_incidents_status", "status"),
    Index("ix_incidents_severity", "severity"),
    Index("ix_incidents_dedup_key", "dedup_key"),
    Index("ix_incidents_detected", "detected_at"),  # reports read a period of them
)

timeline_events = Table(
    "timeline_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", JSON, nullable=False),
    # Optional caller-chosen key: re-recording the same fact (a re-run flow) is a no-op, not a duplicate.
    Column("event_key", String(300)),
    UniqueConstraint("incident_number", "event_key", name="uq_timeline_event_key"),
    Index("ix_timeline_incident", "incident_number", "id"),
    Index("ix_timeline_kind", "kind", "incident_number"),  # reports: how many changes applied, failed, ...
)

action_items = Table(
    "action_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("title", Text, nullable=False),
    Column("owner", String(200)),
    Column("due", Date),
    Column("status", String(20), nullable=False),
    Column("tracker_url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_action_items_incident", "incident_number"),
)

approval_codes = Table(
    "approval_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("approver", String(200), nullable=False),
    # The TOTP time step the code belongs to: unique per approver and enrollment, so a code is used once.
    Column("counter", BigInteger, nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
    Column("incident_number", Integer, ForeignKey("incidents.number")),
    # Which enrollment's secret made the code (a fingerprint of it): re-enrolling starts fresh codes.
    Column("enrollment", String(64), nullable=False, server_default=""),
    UniqueConstraint("approver", "enrollment", "counter", name="uq_approval_code_once"),
)

# An approver's TOTP secret sealed with the key only Warroom's processes read, and the public half of the
# signing key made at enrollment (answers from `warroom approve` are signed with the private half).
approvers = Table(
    "approvers",
    metadata,
    Column("name", String(100), primary_key=True),
    # The TOTP secrets, one per purpose, sealed (warroom/identity.py): an acknowledgement code is made from
    # another secret than an approval code, so one can never count as the other.
    Column("totp_sealed", Text, nullable=False),
    Column("ack_totp_sealed", Text),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_why", Text),
)

# Approvers' public signing keys, every one ever registered: the private halves are made and kept on the
# person's own machine. A key retired (replaced or revoked) stays, so its answers fail with the reason.
approver_keys = Table(
    "approver_keys",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("approver", String(100), nullable=False),
    Column("public_key", Text, nullable=False),  # Ed25519, raw bytes as base64
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("retired_why", Text),
    Index("ix_approver_keys_approver", "approver"),
)

# Who started a flow run, bound to that run's id and to a digest of its parameters: written by the
# receiver for an alert it stored, or by the run itself once it verified its starter's signature. Nothing
# here is a bearer value: a row proves nothing for another run, or for this run with other parameters.
start_proofs = Table(
    "start_proofs",
    metadata,
    Column("flow_run_id", String(64), primary_key=True),
    Column("runbook", String(200), nullable=False),
    Column("params_digest", String(64), nullable=False),
    Column("starter", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # receiver | signed
    Column("key_fingerprint", String(64)),
    Column("signature", Text),
    Column("payload_id", Integer),
    Column("vouched_at", DateTime(timezone=True), nullable=False),
)

alert_payloads = Table(
    "alert_payloads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(40), nullable=False),
    Column("remote", String(100)),
    Column("content_type", String(200)),
    Column("body", LargeBinary, nullable=False),
    # received -> accepted | rejected (with error) | ignored
    Column("state", String(20), nullable=False),
    Column("error", Text),
    Column("alerts", Integer, nullable=False, server_default="0"),
    Index("ix_alert_payloads_state", "state"),
)

alert_launches = Table(
    "alert_launches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One launch per (runbook, dedup key, alert start): Alertmanager retries and storms collapse here.
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload_id", Integer, ForeignKey("alert_payloads.id"), nullable=False),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("runbook", String(200), nullable=False),
    Column("dedup_key", String(500), nullable=False),
    Column("alert", JSON, nullable=False),
    Column("state", String(20), nullable=False),  # pending -> launched | failed (retried)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("flow_run_id", String(64)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # 1 for P1 .. 4 for P4: due launches go in this order, so a P1 is not queued behind a storm of P4s.
    Column("priority", Integer, nullable=False, server_default="4"),
    Index("ix_alert_launches_state", "state", "next_attempt_at"),
    Index("ix_alert_launches_due", "state", "priority", "id"),
)

# A lease names the one process of a cluster that does a job (the launch loop, the keeper) until it
# expires; a holder renews it while alive, and anyone takes it once it has expired.
leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

run_attempts = Table(
    "run_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow_run_id", String(64), nullable=False),
    # 1 for a run's first start; a retry of the same flow run (the UI's Retry) is the next attempt.
    Column("attempt", Integer, nullable=False),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("runbook", String(200), nullable=False),
    Column("state", String(20), nullable=False),  # active | waiting | finished | lost
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", Text),
    # What a re-entered attempt needs instead of running again: diagnostic results and proposals made.
    Column("checkpoint", JSON, nullable=False),
    UniqueConstraint("flow_run_id", "attempt", name="uq_run_attempt"),
    Index("ix_run_attempts_state", "state"),
    Index("ix_run_attempts_incident", "incident_number"),
)

approval_gates = Table(
    "approval_gates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", Integer, ForeignKey("run_attempts.id"), nullable=False),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("proposal", String(200), nullable=False),
    # sha256 of the step, its params and the dry run shown: what an answer approves.
    Column("plan_digest", String(64), nullable=False),
    Column("state", String(20), nullable=False),  # open | granted | rejected | timed_out | lost
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("escalate_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    # How many times the gate has paused for an answer (each pause takes exactly one answer).
    Column("pauses", Integer, nullable=False, server_default="0"),
    Column("granted", JSON, nullable=False),  # the approvers counted so far, in order
    Column("adjustments", JSON, nullable=False),
    Column("last_refusal", JSON),  # {"at", "approver", "why"}: shown at the top of the next form
    UniqueConstraint("attempt_id", "proposal", name="uq_gate_per_attempt"),
    Index("ix_approval_gates_state", "state"),
)

# An override made from the CLI (a swap at 3 a.m.) lies over the team's YAML schedule until it ends.
oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team", String(100), nullable=False),
    Column("layer", String(100), nullable=False),
    Column("person", String(200), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A cancelled override stops counting at cancelled_at; the row stays as history.
    Column("cancelled_at", DateTime(timezone=True)),
    Column("cancelled_by", String(200)),
    Column("cancelled_why", Text),
    Index("ix_oncall_overrides_team", "team", "ends_at"),
)

# One row per escalation step of an incident: open until acknowledged or escalated past its due time.
pages = Table(
    "pages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("target", String(200), nullable=False),  # "payments/primary", or a person on the path
    Column("person", String(200)),
    Column("paged_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("state", String(20), nullable=False),  # open, acknowledged, escalated, exhausted
    Column("closed_at", DateTime(timezone=True)),
    UniqueConstraint("incident_number", "step", name="uq_page_step"),
    Index("ix_pages_state_due", "state", "due_at"),
)

# What a tracker was given for an incident: "incident", "review" or "action:ID", with the tracker's key.
tracked_tasks = Table(
    "tracked_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("ref", String(40), nullable=False),
    Column("tracker", String(40), nullable=False),
    Column("key", String(200), nullable=False),
    Column("url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tracker", "incident_number", "ref", name="uq_tracked_task"),
)

# An incident's room in chat: the channel (or the thread in a shared channel), the pinned summary, how far
# along the timeline the room has been told, and whether the chat service is failing it now.
chat_rooms = Table(
    "chat_rooms",
    metadata,
    Column("incident_number", Integer, ForeignKey("incidents.number"), primary_key=True),
    Column("provider", String(40), nullable=False),
    Column("channel", String(200), nullable=False),  # the chat service's id of the channel
    Column("name", String(200), nullable=False),
    Column("thread", String(200)),  # a shared channel's thread for this incident; none in its own channel
    Column("summary_ts", String(200)),  # the pinned summary's message id
    Column("pinned", Boolean, nullable=False, server_default=false()),  # posted is not yet pinned
    Column("summary", Text),  # what it says now (edited only when that changes)
    Column("topic", Text),
    Column("posted_through", BigInteger, nullable=False),  # the last timeline event id the room was told
    Column("invited", JSON, nullable=False),  # the chat user ids invited so far
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("failing_since", DateTime(timezone=True)),  # the chat service failing this room now
    Column("last_error", Text),
)


chat_asks = Table(
    "chat_asks",
    metadata,
    Column("gate_id", Integer, ForeignKey("approval_gates.id"), primary_key=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("message", String(200), nullable=False),  # the chat service's id of the message with the buttons
    Column("asked_at", DateTime(timezone=True), nullable=False),
    Column("settled", String(20)),  # the gate's state once the message shows it (buttons gone)
)

chat_answers = Table(
    "chat_answers",
    metadata,
    Column("answer_id", String(64), primary_key=True),  # one modal, one answer: a replay is refused here
    Column("gate_id", Integer, ForeignKey("approval_gates.id"), nullable=False),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("plan_digest", String(64), nullable=False),  # the plan the button was for
    Column("decision", String(20), nullable=False),
    Column("approver", String(100), nullable=False),  # the person the schedules give the chat user
    Column("provider", String(40), nullable=False),
    Column("chat_user", String(100), nullable=False),  # the user id the chat service signed for
    Column("reason", Text, nullable=False),
    Column("adjustments", JSON, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


status_posts = Table(
    "status_posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_number", Integer, ForeignKey("incidents.number"), nullable=False),
    Column("title", String(300), nullable=False),  # the public incident's name, in the person's words
    Column("state", String(20), nullable=False),  # investigating | identified | monitoring | resolved
    Column("text", Text, nullable=False),
    Column("components", JSON, nullable=False),  # {component: state} as this post sets them
    Column("author", String(100), nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("next_update_at", DateTime(timezone=True)),
    Index("ix_status_posts_incident", "incident_number", "id"),
    Index("ix_status_posts_posted", "posted_at"),
)

status_publications = Table(
    "status_publications",
    metadata,
    Column("post_id", Integer, ForeignKey("status_posts.id"), primary_key=True),
    Column("provider", String(40), primary_key=True),
    Column("external_id", String(200)),  # the vendor's id of the public incident
    Column("published_at", DateTime(timezone=True)),  # none until the vendor took it
    Column("error", Text),  # why the last try failed (tried again next pass)
    Column("tries", Integer, nullable=False, server_default="0"),
)

status_maintenance = Table(
    "status_maintenance",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("components", JSON, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("author", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
