"""The timeline's vocabulary: every kind of event an incident records, as one typed set.

The post-mortem, the CLI, the channel, the status page and the reports read these kinds; they compare
members, never substrings of a kind or of an event's text. A fact a reader needs (a mitigation's id, a
verdict) is in the event's ``data``. Values are the strings the ledger stores: a new kind is a new member.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    # The alert, as the receiver heard it.
    ALERT_FIRING = "alert.firing"
    ALERT_RESOLVED = "alert.resolved"

    # The incident itself and who holds it.
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_ATTACHED = "incident.attached"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_ACKNOWLEDGED_VIA = "incident.acknowledged.via"  # through a page or chat, not the CLI
    INCIDENT_ACKNOWLEDGE_REFUSED = "incident.acknowledge_refused"
    STATUS_CHANGED = "status.changed"
    TRIAGED = "triage"  # severity decided and left as it was
    SEVERITY_SET = "severity.set"
    SEVERITY_POLICY = "severity.policy"
    ROLE_ASSIGNED = "role.assigned"
    COMMAND_HANDED_OVER = "command.handed_over"  # data: from, to, by
    COMMUNICATION_PLANNED = "communication.planned"
    NOTE = "note"  # a person's own words on the incident
    UPDATE_POSTED = "update.posted"  # a stakeholder update by the comms lead or commander: the cadence's mark
    UPDATE_DUE = "update.due"  # no update within the cadence: data: level (1 reminder, 2 the commander told)

    # The public status page and the stakeholders' summaries: only what a person published or approved.
    STATUS_POSTED = "status.posted"  # public words on the page; data: post, state, components
    STATUS_REFUSED = "status.refused"  # a post by someone who may not publish
    STATUS_PUBLISHED = "status.published"  # on a vendor's page too; data: provider, post, external_id
    STATUS_PUBLISH_FAILED = "status.publish_failed"  # once per outage of the vendor: tried again next pass
    STATUS_DUE = "status.due"  # the public page's next update is late: data: level, person, due_at
    SUMMARY_SENT = "summary.sent"  # data: audiences, recipients, subject, resolution
    SUMMARY_FAILED = "summary.failed"  # data: audience, recipients that failed, why

    # The past brought to the incident at triage.
    PAST_SIMILAR = "past.similar"  # data: incidents (the similar ones before: what was done, did it hold)

    # The incident's room in chat (its channel, or its thread in a shared one).
    CHAT_OPENED = "chat.opened"
    CHAT_FAILED = "chat.failed"  # once per outage: the posts are retried, nothing is lost
    CHAT_RESTORED = "chat.restored"

    # Paging the on-call.
    PAGE_SENT = "page.sent"
    PAGE_DELIVERED = "page.delivered"
    PAGE_FAILED = "page.failed"
    PAGE_ESCALATED = "page.escalated"
    PAGE_EXHAUSTED = "page.exhausted"

    # The runbook's run: launched by the router, kept alive by the keeper.
    RUNBOOK_LAUNCHED = "runbook.launched"
    RUNBOOK_NOT_LAUNCHED = "runbook.not_launched"
    RUNBOOK_LAUNCH_FAILED = "runbook.launch_failed"
    RUNBOOK_RELAUNCHING = "runbook.relaunching"
    RUN_STARTED = "run.started"
    RUN_FAILED = "run.failed"
    RUN_LOST = "run.lost"
    RUN_RESTARTING = "run.restarting"
    RUN_REENTERED = "run.reentered"
    RUN_HANDED_BACK = "run.handed_back"

    # Investigation.
    DIAGNOSTIC_RESULT = "diagnostic.result"
    DIAGNOSTIC_FAILED = "diagnostic.failed"
    DIAGNOSTIC_SKIPPED = "diagnostic.skipped"

    # Mitigation and the gate in front of it.
    MITIGATION_PROPOSED = "mitigation.proposed"
    MITIGATION_NOT_PROPOSED = "mitigation.not_proposed"
    MITIGATION_SKIPPED = "mitigation.skipped"
    MITIGATION_STARTED = "mitigation.started"
    MITIGATION_APPLIED = "mitigation.applied"
    MITIGATION_PARTIAL = "mitigation.partial"
    MITIGATION_FAILED = "mitigation.failed"
    MITIGATION_UNKNOWN = "mitigation.unknown"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_SENT = "approval.sent"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_REFUSED = "approval.refused"
    APPROVAL_REMOVED = "approval.removed"
    APPROVAL_TIMED_OUT = "approval.timed_out"
    APPROVAL_ESCALATED = "approval.escalated"
    APPROVAL_DISTURBED = "approval.disturbed"
    APPROVAL_REENTERED = "approval.reentered"

    # Verification after a change.
    VERIFICATION_PASSED = "verification.passed"
    VERIFICATION_FAILED = "verification.failed"
    VERIFICATION_SKIPPED = "verification.skipped"

    # Learning: the post-mortem and its action items.
    POSTMORTEM_PLANNED = "postmortem.planned"
    POSTMORTEM_DRAFTED = "postmortem.drafted"
    POSTMORTEM_EDITED = "postmortem.edited"
    ACTION_ITEM_ADDED = "action_item.added"
    ACTION_ITEM_UPDATED = "action_item.updated"
    TRACKER_CREATED = "tracker.created"
    TRACKER_FAILED = "tracker.failed"
