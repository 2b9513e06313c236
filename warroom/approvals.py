"""Who may approve a mitigation, and whether one answer at an approval gate counts.

Pure policy: the gate (``flows/approval.py``) proves identity (``warroom/identity.py``) and then asks this
module whether that person may approve this proposal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from warroom.runbook import ApprovalPolicy


class Verdict(StrEnum):
    GRANTED = "granted"  # counts toward the approvals required
    REJECTED = "rejected"  # an authorized person said no: the gate closes, nothing runs
    REFUSED = "refused"  # the answer does not count (not authorized, four-eyes, repeat); the gate waits again


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    why: str


def eligible(
    policy: ApprovalPolicy, groups: Mapping[str, Iterable[str]], oncall: Mapping[str, Iterable[str]]
) -> set[str]:
    """Everyone the policy names: users, members of its groups, whoever is on call for its schedules."""
    people: set[str] = set()
    for a in policy.approvers:
        if a.user is not None:
            people.add(a.user)
        elif a.group is not None:
            people.update(groups.get(a.group, ()))
        elif a.oncall is not None:
            current = list(oncall.get(a.oncall, ()))
            people.update(current[:1])  # the person on call now, not the whole rotation
    return people


def judge(
    decision: str,
    approver: str,
    policy: ApprovalPolicy,
    *,
    eligible_people: set[str],
    excluded: Mapping[str, str],
    granted_by: Iterable[str],
    required: int,
) -> Judgement:
    """Judge one identity-proven answer. ``excluded`` maps people four-eyes rules out to why."""
    if approver not in eligible_people:
        allowed = ", ".join(sorted(eligible_people)) or "nobody (check approver_groups and oncall settings)"
        return Judgement(Verdict.REFUSED, f"{approver} is not an authorized approver (allowed: {allowed})")
    if policy.four_eyes and approver in excluded:
        return Judgement(
            Verdict.REFUSED, f"four-eyes: {approver} {excluded[approver]} and may not approve it"
        )
    if decision == "reject":
        return Judgement(Verdict.REJECTED, f"rejected by {approver}")
    if approver in set(granted_by):
        return Judgement(
            Verdict.REFUSED, f"{approver} has already approved; {required} different people needed"
        )
    return Judgement(Verdict.GRANTED, f"approved by {approver}")
