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
