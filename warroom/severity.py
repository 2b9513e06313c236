"""The severity policy table and the triage rules that pick a level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.duration import Duration, format_duration
from warroom.incident import Severity


class PostmortemPolicy(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


class SeverityPolicy(BaseModel):
    """What a level means and what it obliges the responders to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meaning: str
    update_every: Duration | None = Field(description="Stakeholder update cadence; None means as needed")
    notify: tuple[str, ...] = Field(description="Who is told")
    status_page: bool
    postmortem: PostmortemPolicy
    signed_approvals: bool = Field(
        default=False,
        description="Gates at this level count only signed answers (`warroom approve`), whatever the runbook",
    )
    page: bool = Field(default=False, description="An incident at this level pages whoever is on call")
    room: bool = Field(
        default=False,
        description="An incident at this level gets a room in chat: its own channel, or a thread in the "
        "shared one (a runbook's `communicate.channel` asks for one at any level)",
    )
    review_within_days: int = Field(
        default=5,
        ge=1,
        le=30,
        description="The post-mortem review meets this many working days after resolution",
    )
    commander: Literal["acknowledger", "primary"] = Field(
        default="acknowledger",
        description="Who commands when nobody is assigned: the first to acknowledge, or the primary on call "
        "at triage",
    )
    ack_within: Duration = Field(
        default=timedelta(minutes=15),
        description="A page not acknowledged this long goes to the next step of the escalation path (a "
        "schedule's shorter `escalation.ack_within` wins for its team's pages)",
    )


DEFAULT_POLICY: dict[Severity, SeverityPolicy] = {
    Severity.P1: SeverityPolicy(
        meaning="critical: full outage, major feature down, security breach, data loss, all customers",
        update_every=timedelta(minutes=15),
        notify=("all-hands", "c-level"),
        status_page=True,
        postmortem=PostmortemPolicy.REQUIRED,
        page=True,
        room=True,
        review_within_days=3,
    ),
    Severity.P2: SeverityPolicy(
        meaning="high: significant feature impaired, many customers, degraded",
        update_every=timedelta(minutes=30),
        notify=("manager", "support"),
        status_page=True,
        postmortem=PostmortemPolicy.REQUIRED,
        page=True,
        room=True,
    ),
    Severity.P3: SeverityPolicy(
        meaning="medium: minor feature, limited impact, workaround",
        update_every=None,
        notify=("team",),
        status_page=False,
        postmortem=PostmortemPolicy.OPTIONAL,
    ),
    Severity.P4: SeverityPolicy(
        meaning="low: cosmetic, minimal impact",
        update_every=None,
        notify=("backlog",),
        status_page=False,
        postmortem=PostmortemPolicy.NONE,
    ),
}


def with_overrides(raw: Any) -> Any:
    """``WARROOM_SEVERITY`` as people write it: any of a level's fields (``{"P1": {"ack_within": "5m"}}``),
    the rest kept from the seed table, durations as runbooks write them. What cannot be read is left for
    the model to refuse, naming the level and the field; a level that is not one is refused here."""
    if not isinstance(raw, Mapping):
        return raw
    merged: dict[Any, Any] = {}
    for key, fields in raw.items():
        try:
            level = Severity(str(key).upper())
        except ValueError:
            raise ValueError(f"{key!r} is not a level: P1, P2, P3 or P4") from None
        merged[level] = (
            {**DEFAULT_POLICY[level].model_dump(), **fields} if isinstance(fields, Mapping) else fields
        )
    return merged


def policy_table(
    overrides: Mapping[Severity, SeverityPolicy] | None = None,
) -> dict[Severity, SeverityPolicy]:
    """The seed table with per-level overrides (from settings) laid over it."""
    table = dict(DEFAULT_POLICY)
    table.update(overrides or {})
    return table


def policy_for(level: Severity, overrides: Mapping[Severity, SeverityPolicy] | None = None) -> SeverityPolicy:
    return policy_table(overrides)[level]


# Conventional alert `severity` label values, as Alertmanager and Grafana rules use them.
LABEL_LEVELS: dict[str, Severity] = {
    "critical": Severity.P1,
    "page": Severity.P1,
    "p1": Severity.P1,
    "high": Severity.P2,
    "error": Severity.P2,
    "major": Severity.P2,
    "p2": Severity.P2,
    "warning": Severity.P3,
    "medium": Severity.P3,
    "minor": Severity.P3,
    "p3": Severity.P3,
    "info": Severity.P4,
    "low": Severity.P4,
    "p4": Severity.P4,
}


class SeverityRule(BaseModel):
    """``when`` is a sandboxed condition; a rule without one always matches."""

    model_config = ConfigDict(extra="forbid")

    when: str | None = None
    level: Severity


class Triage(BaseModel):
    level: Severity
    reason: str


def classify(
    rules: Sequence[SeverityRule], context: Mapping[str, Any], default: Severity = Severity.P3
) -> Triage:
    """The first rule that matches wins; with none, the alert's ``severity`` label, then ``default``.

    A rule whose condition cannot be evaluated (missing data) does not match; the reason says so.
    """
    skipped: list[str] = []
    from warroom.expressions import evaluate_condition  # Jinja, here: every CLI command imports this module

    for i, rule in enumerate(rules):
        if rule.when is None:
            return Triage(level=rule.level, reason=f"rule {i + 1} (unconditional)")
        outcome = evaluate_condition(rule.when, context)
        if outcome.error:
            skipped.append(f"rule {i + 1}: {outcome.error}")
        elif outcome.value:
            return Triage(level=rule.level, reason=f"rule {i + 1}: {rule.when}")
    alert = context.get("alert") or {}
    labels = alert.get("labels", {}) if isinstance(alert, Mapping) else {}
    label = str(labels.get("severity", "")).strip().lower()
    note = f" ({'; '.join(skipped)})" if skipped else ""
    if label in LABEL_LEVELS:
        return Triage(level=LABEL_LEVELS[label], reason=f"alert label severity={label}{note}")
    return Triage(level=default, reason=f"default policy{note}")


def describe_policy(level: Severity, policy: SeverityPolicy) -> str:
    """One line of what a level obliges, as the timeline records it at triage and at a severity change."""
    every = format_duration(policy.update_every) if policy.update_every else "as needed"
    paging = f"pages on-call (acknowledge within {format_duration(policy.ack_within)})"
    audience = ", ".join(policy.notify) or "nobody"
    return (
        f"{level.value} ({policy.meaning}): stakeholder updates {every} to {audience}; "
        f"status page {'yes' if policy.status_page else 'no'}; post-mortem {policy.postmortem.value}; "
        + (paging if policy.page else "no paging")
    )


def communication_plan(
    policy: SeverityPolicy,
    *,
    channel: str | None = None,
    update_every: timedelta | None = None,
    status_page: bool | None = None,
    stakeholders: Sequence[str] = (),
    components: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """Who hears what and how often: the level's policy, under what a runbook's ``communicate:`` sets."""
    every = update_every if update_every is not None else policy.update_every
    page = status_page if status_page is not None else policy.status_page
    audience = [*policy.notify, *(s for s in stakeholders if s not in policy.notify)]
    room = policy.room or bool(channel)
    text = (
        f"channel {channel or ('its own' if room else '-')}; updates "
        f"{format_duration(every) if every else 'as needed'} to "
        f"{', '.join(audience) or 'nobody'}; status page {'yes' if page else 'no'}"
    )
    data = {
        "room": room,
        "channel": channel,
        "update_every": format_duration(every) if every else None,
        # What the runbook set over the policy, so a change of severity plans again under it.
        "runbook": {
            "update_every": format_duration(update_every) if update_every is not None else None,
            "status_page": status_page,
            "stakeholders": list(stakeholders),
            "components": list(components),
        },
        "components": list(components),  # the status page's, when the runbook names them
        "audience": audience,
        "status_page": page,
    }
    return text, data


def postmortem_plan(
    policy: SeverityPolicy,
    *,
    required: bool | None = None,
    owner: str | None = None,
    action_items: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """Whether a post-mortem is owed, by whom, and the action items that open when it resolves."""
    owed = required if required is not None else policy.postmortem is PostmortemPolicy.REQUIRED
    text = (
        f"post-mortem {'required' if owed else policy.postmortem.value}"
        + (f", owner {owner}" if owner else "")
        + (
            f"; {len(action_items)} action item(s) from the runbook open when it resolves"
            if action_items
            else ""
        )
    )
    return text, {"required": owed, "owner": owner, "action_items": list(action_items)}
