"""Game days as a team's runbook tests: the shipped cases pass in the sandbox (and as JUnit XML); a rule
broken on purpose fails with a diff that says why; and nothing a game day does changes anything."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from flows.gameday import load_case, play
from sandbox.kube import FakeCluster, rollout_scene, running_cluster
from tests.conftest import REPO
from tests.test_cli import warroom
from warroom.runbook import load_catalogue
from warroom.settings import get_settings


def test_the_shipped_cases_pass_in_the_sandbox_and_report_as_junit(tmp_path: Path) -> None:
    report = tmp_path / "gameday.xml"
    done = warroom("gameday", str(REPO / "gameday"), "--sandbox", "--check", "--junit", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 of 7 case(s) as expected" in done.stdout
    assert "would propose rollback (approval simulated, not asked)" in done.stdout
    assert "not proposed restart: when `" in done.stdout and "rollout.last_change_minutes=7.0" in done.stdout
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("7", "0")


def test_a_rule_broken_on_purpose_fails_the_check_with_a_readable_diff(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    text = (REPO / "runbooks" / "k8s-bad-deploy.yaml").read_text()
    broken = text.replace(
        "recent_minutes: {type: integer, default: 60", "recent_minutes: {type: integer, default: 5"
    )
    assert broken != text
    (runbooks / "k8s-bad-deploy.yaml").write_text(broken)
    report = tmp_path / "gameday.xml"
    done = warroom(
        "gameday",
        str(REPO / "gameday" / "k8s-bad-deploy.yaml"),
        "--sandbox",
        "--check",
        "--junit",
        str(report),
        env={"WARROOM_RUNBOOKS_DIR": str(runbooks)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL k8s-bad-deploy" in done.stdout
    assert "MISS proposes: expected ['rollback'], got []" in done.stdout
    assert "rollback not proposed: when `rollout.last_change_minutes is not none" in done.stdout
    # The scene's deploy is 7 minutes old when the case starts; a loaded machine reads it a little later.
    read = r"rollout\.last_change_minutes=7\.\d, params\.recent_minutes=5"
    assert re.search(read, done.stdout), done.stdout
    failure = ET.parse(report).getroot().find("testcase/failure")
    assert failure is not None and "proposes: expected ['rollback'], got []" in (failure.get("message") or "")


def test_a_game_day_makes_no_change_only_dry_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = FakeCluster()
    rollout_scene(cluster, state="crashloop", minutes_ago=7, revisions=3)
    with running_cluster(cluster, tmp_path / "kube") as kube:
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
        get_settings.cache_clear()
        before = cluster.get("deployments", "prod", "web")
        score = play(
            load_case(REPO / "gameday" / "k8s-bad-deploy.yaml"),
            load_catalogue([REPO / "runbooks"]),
            get_settings(),
        )
    assert score.passed and "rollback" in score.proposed
    writes = [
        (m, q)
        for (m, _), q in zip(cluster.requests, cluster.queries, strict=True)
        if m in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert writes and all("dryRun=All" in q for _, q in writes)  # the rollback's dry run, and nothing else
    assert cluster.get("deployments", "prod", "web") == before


def _case(tmp_path: Path, shipped: str, drop: str = "", add: str = "") -> Path:
    text = (REPO / "gameday" / shipped).read_text()
    assert drop in text
    case = tmp_path / shipped
    case.write_text(text.replace(drop, "") + add)
    return case


def test_a_case_fails_when_a_diagnostic_fails_that_it_did_not_expect_to(tmp_path: Path) -> None:
    # The disk case run for real, on a machine whose inventory names no host: every diagnostic fails, no
    # mitigation is proposed, and match and triage are as expected. That is not a passing game day.
    case = _case(tmp_path, "host-disk-full.yaml", drop="diagnose: false\n")
    empty = tmp_path / "inventory.yaml"
    empty.write_text("all: {hosts: {}}\n")
    done = warroom("gameday", str(case), "--check", env={"WARROOM_SSH_INVENTORY": str(empty)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL host-disk-full" in done.stdout
    assert re.search(
        r"MISS diagnostics\.disk: failed, and the case does not expect it to: failed: ", done.stdout
    )


def test_a_diagnostic_that_does_other_than_the_case_says_fails_it_and_an_undeclared_one_too(
    tmp_path: Path,
) -> None:
    declared = "  diagnostics: {status: ok, pods: ok, events: ok}\n"
    case = _case(
        tmp_path, "k8s-saturation.yaml", drop=declared, add="  diagnostics: {status: ok, pods: trouble}\n"
    )
    done = warroom("gameday", str(case), "--sandbox", "--check")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISS diagnostics.pods: expected trouble, got prod/web: 4/4 pods ready" in done.stdout
    assert "MISS diagnostics.events: ok; say what it should do" in done.stdout
    assert "diagnostics.status" not in done.stdout.split("MISS", 1)[1]


def test_a_case_that_runs_no_diagnostics_says_so_and_cannot_declare_them(tmp_path: Path) -> None:
    done = warroom("gameday", str(REPO / "gameday" / "asg-saturation.yaml"), "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "diagnostics not run (diagnose: false)" in done.stdout
    assert "1 did not run their diagnostics" in done.stdout
    case = _case(tmp_path, "asg-saturation.yaml", add="  diagnostics: {alarm: ok}\n")
    done = warroom("gameday", str(case), "--check")
    assert done.returncode == 2 and "diagnose: false runs none" in done.stdout + done.stderr
