"""The severity policy table and triage rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from warroom.incident import Severity
from warroom.settings import Settings
from warroom.severity import PostmortemPolicy, SeverityRule, classify, policy_for, policy_table


def test_seed_policy_table() -> None:
    p1, p2, p3, p4 = (policy_for(s) for s in Severity)
    assert (
        p1.update_every == timedelta(minutes=15)
        and p1.status_page
        and p1.postmortem is PostmortemPolicy.REQUIRED
    )
    assert (
        p2.update_every == timedelta(minutes=30)
        and p2.status_page
        and p2.postmortem is PostmortemPolicy.REQUIRED
    )
    assert p3.update_every is None and not p3.status_page and p3.postmortem is PostmortemPolicy.OPTIONAL
    assert p4.update_every is None and not p4.status_page and p4.postmortem is PostmortemPolicy.NONE
    assert "c-level" in p1.notify and "backlog" in p4.notify


def test_policy_is_overridable_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WARROOM_SEVERITY",
        '{"P3": {"meaning": "medium", "update_every": 3600, "notify": ["team"], "status_page": true,'
        ' "postmortem": "required"}}',
    )
    table = policy_table(Settings().severity)
    assert table[Severity.P3].status_page and table[Severity.P3].update_every == timedelta(hours=1)
    assert table[Severity.P1] == policy_for(Severity.P1)


def test_first_matching_rule_wins() -> None:
    rules = [
        SeverityRule(when="alert.labels.severity == 'critical'", level=Severity.P1),
        SeverityRule(when="alert.labels.env == 'prod'", level=Severity.P2),
        SeverityRule(level=Severity.P3),
    ]
    assert (
        classify(rules, {"alert": {"labels": {"severity": "critical", "env": "prod"}}}).level is Severity.P1
    )
    assert classify(rules, {"alert": {"labels": {"severity": "warning", "env": "prod"}}}).level is Severity.P2
    assert classify(rules, {"alert": {"labels": {"severity": "warning", "env": "dev"}}}).level is Severity.P3


def test_without_rules_the_alert_label_then_the_default_decides() -> None:
    assert classify([], {"alert": {"labels": {"severity": "critical"}}}).level is Severity.P1
    assert classify([], {"alert": {"labels": {"severity": "warning"}}}).level is Severity.P3
    assert classify([], {"alert": {"labels": {}}}, default=Severity.P4).level is Severity.P4


def test_a_rule_over_missing_data_does_not_match_and_says_why() -> None:
    rules = [SeverityRule(when="alert.labels.region.startswith('us')", level=Severity.P1)]
    triage = classify(rules, {"alert": {"labels": {}}}, default=Severity.P3)
    assert triage.level is Severity.P3
    assert "could not be evaluated" in triage.reason
