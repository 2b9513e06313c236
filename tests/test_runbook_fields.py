"""A runbook's conditions and templates read fields its steps' results have, and every problem of a file
is reported in one pass: a misspelt field never validates into a mitigation that is never proposed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from warroom.runbook import RunbookInvalid, parse_runbook
from warroom.runbook.loading import check_runbook

HEAD = """\
name: fields
description: field paths
params:
  namespace: {type: string, default: prod}
diagnostics:
  - id: pods
    use: kubernetes.pod_health
    with: {namespace: "{{ params.namespace }}", deployment: web}
  - id: history
    use: kubernetes.rollout_history
    with: {namespace: "{{ params.namespace }}", deployment: web}
"""


def _mitigation(when: str, extra: str = "") -> str:
    return (
        HEAD
        + f"""\
mitigations:
  - id: roll_back
    when: "{when}"
    use: kubernetes.rollback
    with: {{namespace: "{{{{ params.namespace }}}}", deployment: web{extra}}}
    approval: {{approvers: [{{user: alice}}]}}
"""
    )


def _problems(text: str) -> list[str]:
    with pytest.raises(RunbookInvalid) as caught:
        parse_runbook(text, "rb.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_misspelt_result_field_in_when_is_refused_with_the_nearest_name() -> None:
    [problem] = _problems(_mitigation("pods.unhealty > 0"))
    assert problem.startswith("rb.yaml:14: mitigations[0].when: pods has no field 'unhealty'")
    assert "did you mean 'unhealthy'?" in problem
    parse_runbook(_mitigation("pods.unhealthy > 0"), "rb.yaml")  # spelt right, it validates


def test_a_path_below_a_nested_result_and_through_a_list_is_followed() -> None:
    [problem] = _problems(_mitigation("pods.pods[0].redy"))
    assert "pods.pods[0] has no field 'redy'; did you mean 'ready'?" in problem


def test_a_misspelt_field_in_expect_and_in_a_template_is_refused() -> None:
    text = (
        _mitigation("pods.unhealthy > 0", ', note: "{{ history.curent_revision }}"')
        + """\
verify:
  - use: kubernetes.pod_health
    with: {namespace: prod, deployment: web}
    expect: "result.unhealhty == 0"
"""
    )
    problems = _problems(text)
    assert any(
        "history has no field 'curent_revision'; did you mean 'current_revision'?" in p for p in problems
    )
    assert any(
        "verify[0].expect: result has no field 'unhealhty'; did you mean 'unhealthy'?" in p for p in problems
    )


def test_an_alert_and_incident_field_is_checked_but_any_label_is_allowed() -> None:
    parse_runbook(_mitigation("alert.labels.anything == 'x' and incident.severity == 'P1'"), "rb.yaml")
    [problem] = _problems(_mitigation("alert.lables.team == 'x'"))
    assert "alert has no field 'lables'; did you mean 'labels'?" in problem


def test_a_condition_over_a_field_the_step_may_leave_unset_says_so_unless_it_tests_for_none() -> None:
    runbook, warnings = check_runbook(_mitigation("history.last_change_minutes < 30"), "rb.yaml")
    assert runbook.mitigations[0].id == "roll_back"
    [warning] = [str(w) for w in warnings]
    assert warning.startswith(
        "rb.yaml:14: mitigations[0].when: warning: history.last_change_minutes may be unset"
    )
    guarded = "history.last_change_minutes is not none and history.last_change_minutes < 30"
    assert check_runbook(_mitigation(guarded), "rb.yaml")[1] == []


def test_every_problem_of_a_runbook_comes_in_one_pass() -> None:
    text = """\
name: Bad Name
description: schema, step and template problems at once
diagnostics:
  - id: pods
    use: kubernetes.pod_healht
  - id: check
    use: http.check
    with: {url: "{{ params.nope }}"}
  - id: 7bad
    use: http.check
mitigations:
  - id: roll_back
    when: "check.satus == 500"
    use: kubernetes.rollback
    with: {namespace: prod, deployment: web}
    approval: {approvers: [{user: alice}]}
"""
    problems = _problems(text)
    fields = [p.split(": ")[1] for p in problems]
    assert "name" in fields  # the schema's
    assert "diagnostics[2].id" in fields  # the schema's, in one item
    assert any(
        "unknown step 'kubernetes.pod_healht'; did you mean 'kubernetes.pod_health'?" in p for p in problems
    )
    assert any("diagnostics[1].with.url: unknown param 'nope'" in p for p in problems)
    assert any("check has no field 'satus'; did you mean 'status'?" in p for p in problems)
    assert [int(p.split(":")[1]) for p in problems] == sorted(int(p.split(":")[1]) for p in problems)


def test_runbooks_validate_prints_a_warning_and_still_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(_mitigation("history.last_change_minutes < 30"))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "runbooks", "validate", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "warning: history.last_change_minutes may be unset" in done.stdout
    assert "1 runbook(s) valid, 1 warning(s)" in done.stderr
