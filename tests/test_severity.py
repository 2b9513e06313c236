"""The severity policy table and triage rules."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

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


def test_a_one_field_override_keeps_the_rest_of_the_level_and_reads_runbook_durations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WARROOM_SEVERITY", '{"P1": {"ack_within": "5m"}, "p2": {"update_every": "1h30m"}}')
    settings = Settings()
    p1, p2 = settings.policy(Severity.P1), settings.policy(Severity.P2)
    assert p1.ack_within == timedelta(minutes=5)
    assert p1.model_dump(exclude={"ack_within"}) == policy_for(Severity.P1).model_dump(exclude={"ack_within"})
    assert p2.update_every == timedelta(hours=1, minutes=30) and p2.notify == policy_for(Severity.P2).notify
    assert settings.policy(Severity.P3) == policy_for(Severity.P3)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ('{"P1": {"ack_within": "soon"}}', "error: WARROOM_SEVERITY.P1.ack_within: not a duration: 'soon'"),
        ('{"P9": {"ack_within": "5m"}}', "error: WARROOM_SEVERITY: 'P9' is not a level: P1, P2, P3 or P4"),
        (
            '{"P1": {"ack_witin": "5m"}}',
            "error: WARROOM_SEVERITY.P1.ack_witin: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_severity_setting_stops_any_command_with_one_line_naming_the_level_and_field(
    tmp_path: Path, value: str, line: str
) -> None:
    env = {**os.environ, "WARROOM_HOME": str(tmp_path), "WARROOM_SEVERITY": value}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "incidents", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(line), done.stderr
