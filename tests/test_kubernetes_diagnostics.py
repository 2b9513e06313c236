"""Kubernetes diagnostics on seeded cluster states, through the official client, against the test API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.kube import Rule, RunningCluster, rollout_scene
from tasks.kubernetes.client import KubeError
from tasks.kubernetes.diagnostics import (
    baseline,
    deployment_status,
    events,
    logs,
    pod_health,
    rollout_history,
)
from tasks.kubernetes.models import (
    DeploymentRef,
    EventsParams,
    LogsParams,
    PodHealthParams,
    RolloutHistoryParams,
)
from warroom.redact import register_secret
from warroom.settings import get_settings

WEB = {"namespace": "prod", "deployment": "web"}


def test_a_healthy_rollout_reads_healthy(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="healthy", minutes_ago=12)
    history = rollout_history(RolloutHistoryParams(**WEB))
    assert history.current_revision == 2 and history.previous_revision == 1
    assert history.current_images == ["web:2"] and history.previous_images == ["web:1"]
    assert history.last_change_minutes is not None and 11.5 <= history.last_change_minutes <= 13
    assert [(r.revision, r.change_cause) for r in history.revisions] == [(2, "release 2"), (1, "release 1")]
    status = deployment_status(DeploymentRef(**WEB))
    assert status.complete and not status.stuck and (status.desired, status.ready) == (4, 4)
    pods = pod_health(PodHealthParams(**WEB))
    assert (pods.total, pods.ready, pods.unhealthy, pods.restarts) == (4, 4, 0, 0)
    assert {p.revision for p in pods.pods} == {2}
    assert events(EventsParams(**WEB)).total == 0
    assert not baseline(DeploymentRef(**WEB)).regressed


def test_crash_looping_pods_come_first_with_their_reasons_and_logs(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    pods = pod_health(PodHealthParams(**WEB))
    # a stalled rolling update: 3 old pods still serve, the 2 new ones crash
    assert (pods.total, pods.ready, pods.unhealthy) == (5, 3, 2)
    worst = pods.pods[0]
    assert worst.reasons[0] == "CrashLoopBackOff" and worst.restarts == 5 and worst.revision == 2
    assert not worst.ready and worst.node
    assert pods.reasons["CrashLoopBackOff"] == 2
    assert [p.revision for p in pods.pods] == [2, 2, 1, 1, 1]
    found = events(EventsParams(**WEB))
    assert found.reasons == {"BackOff": 2}
    assert found.warnings[0]["kind"] == "Pod" and "Back-off restarting failed container" in str(
        found.warnings[0]["message"]
    )
    read = logs(LogsParams(pods=1, **WEB))
    [current, previous] = sorted(read.logs)
    assert previous.endswith("(previous)") and "panic: invalid configuration" in read.logs[previous]
    assert "panic" in read.logs[current]
    status = deployment_status(DeploymentRef(**WEB))
    assert not status.complete and not status.stuck and status.reason == "progressing"


def test_an_image_that_cannot_be_pulled(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="imagepull")
    pods = pod_health(PodHealthParams(**WEB))
    assert pods.pods[0].reasons == ["ImagePullBackOff"] and pods.pods[0].phase == "Pending"
    assert 'Back-off pulling image "web:2"' in (pods.pods[0].message or "")
    found = events(EventsParams(**WEB))
    assert any('Failed to pull image "web:2"' in str(w["message"]) for w in found.warnings)
    read = logs(LogsParams(pods=1, **WEB))
    [(label, text)] = read.logs.items()
    assert "waiting to start: ImagePullBackOff" in text and "(previous)" not in label


def test_a_rollout_past_its_progress_deadline_is_stuck(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", minutes_ago=2)
    assert not deployment_status(DeploymentRef(**WEB)).stuck
    kube.cluster.advance(11 * 60)  # progressDeadlineSeconds defaults to 600
    status = deployment_status(DeploymentRef(**WEB))
    assert status.stuck and status.reason == "stuck"
    assert 'deployment "web" exceeded its progress deadline' in status.summary
    progressing = next(c for c in status.conditions if c["type"] == "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded" and progressing["status"] == "False"


def test_oom_killed_containers_are_named(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="oom")
    pods = pod_health(PodHealthParams(**WEB))
    assert pods.pods[0].reasons[:2] == ["OOMKilled", "CrashLoopBackOff"]
    assert pods.reasons["OOMKilled"] == 2
    assert "OOMKilled (exit 137)" in (pods.pods[0].message or "") or "back-off" in (
        pods.pods[0].message or ""
    )


def test_unschedulable_pods_have_no_node_and_the_scheduler_says_why(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="pending")
    pods = pod_health(PodHealthParams(**WEB))
    assert pods.pods[0].reasons == ["Unschedulable"] and pods.pods[0].node is None
    found = events(EventsParams(**WEB))
    assert found.reasons == {"FailedScheduling": 2}


def test_baseline_names_what_differs_from_the_previous_revision(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    result = baseline(DeploymentRef(**WEB))
    assert result.regressed and (result.current_revision, result.baseline_revision) == (2, 1)
    assert result.current and result.baseline
    assert (result.current.pods, result.current.ready, result.baseline.pods, result.baseline.ready) == (
        2,
        0,
        3,
        3,
    )
    assert "web.image: 'web:1' -> 'web:2'" in result.differences
    assert "new in revision 2: CrashLoopBackOff, Error" in result.differences


def test_a_single_revision_has_no_baseline(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, revisions=1)
    result = baseline(DeploymentRef(**WEB))
    assert result.baseline_revision is None and not result.regressed
    assert "no earlier revision" in result.summary
    history = rollout_history(RolloutHistoryParams(**WEB))
    assert history.previous_revision is None and "no earlier revision" in history.summary


def test_diagnostics_list_with_selectors_and_never_read_pod_by_pod(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", replicas=60)
    rollout_scene(kube.cluster, "api", replicas=7)  # same namespace: must not be counted
    before = len(kube.cluster.requests)
    pods = pod_health(PodHealthParams(**WEB))
    calls = kube.cluster.requests[before:]
    queries = kube.cluster.queries[before:]
    assert pods.total == 60 + 15  # 45 old pods still up, 30 new ones (maxSurge 15 + maxUnavailable 15)
    assert [method for method, _ in calls] == ["GET", "GET", "GET"]
    assert not any("/pods/" in path for _, path in calls)
    assert queries[1:] == ["labelSelector=app%3Dweb", "labelSelector=app%3Dweb"]  # replicasets, pods
    assert all(p.name.startswith("web-") for p in pods.pods)


def test_warnings_older_than_the_window_are_left_out(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", minutes_ago=90)
    assert events(EventsParams(since="30m", **WEB)).total == 0
    assert events(EventsParams(since="2h", **WEB)).total == 2


def test_logs_are_capped_and_secrets_in_them_masked(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    secret = "hunter2-db-password-3x"
    register_secret(secret)
    kube.cluster.logs["web:2"] = [f"line {n}: connecting with {secret}" for n in range(5000)]
    read = logs(LogsParams(pods=3, tail_lines=5000, max_bytes=2000, **WEB))
    assert read.truncated
    assert sum(len(t.encode()) for t in read.logs.values()) <= 2000
    assert secret not in "".join(read.logs.values()) and "line 4999" in "".join(read.logs.values())


def test_a_missing_deployment_is_a_clear_error(kube: RunningCluster) -> None:
    with pytest.raises(KubeError) as caught:
        rollout_history(RolloutHistoryParams(namespace="prod", deployment="nope"))
    assert caught.value.kind == "not_found"
    assert str(caught.value) == 'not found: deployments.apps "nope" in namespace "prod"'


def test_a_forbidden_read_names_the_verb_and_resource(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster)
    kube.cluster.grant("deploy-only", "ci-bot", [Rule({"get"}, {"deployments"})])
    kube.write_kubeconfig(kube.kubeconfig, token="deploy-only")
    with pytest.raises(KubeError) as caught:
        pod_health(PodHealthParams(**WEB))
    assert caught.value.kind == "forbidden"
    assert str(caught.value).startswith('forbidden: not allowed to list replicasets.apps in namespace "prod"')
    assert 'User "ci-bot" cannot list resource "replicasets"' in str(caught.value)
    assert "deploy-only" not in str(caught.value)


def test_in_cluster_service_account_is_used_without_a_kubeconfig(
    kube: RunningCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout_scene(kube.cluster)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    kube.cluster.grant("sa-token", "system:serviceaccount:ops:warroom", [Rule({"get", "list"}, {"*"})])
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_bytes(kube.ca_pem)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", kube.url.rsplit(":", 1)[1])
    monkeypatch.setenv("WARROOM_KUBE_SERVICEACCOUNT_DIR", str(sa))
    get_settings.cache_clear()
    assert rollout_history(RolloutHistoryParams(**WEB)).current_revision == 2


def test_no_configuration_at_all_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    get_settings.cache_clear()
    with pytest.raises(KubeError) as caught:
        rollout_history(RolloutHistoryParams(**WEB))
    assert caught.value.kind == "no_config" and "KUBECONFIG" in str(caught.value)


def test_every_call_has_a_timeout(kube: RunningCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    rollout_scene(kube.cluster)
    monkeypatch.setenv("WARROOM_KUBE_TIMEOUT", "0.5")
    get_settings.cache_clear()
    kube.cluster.stall["GET"] = 6.0
    started = time.monotonic()
    with pytest.raises(KubeError) as caught:
        deployment_status(DeploymentRef(**WEB))
    assert time.monotonic() - started < 4.5  # cut off by the 0.5 s timeout, far before the 6 s answer
    assert caught.value.kind == "timeout"
    assert str(caught.value).startswith(
        'cannot get deployments.apps "web" in namespace "prod": the API server at'
    )


def test_rollout_history_lists_what_kubectl_rollout_history_lists(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", revisions=4)
    kube.kubectl("rollout", "undo", "deployment/web", "--to-revision=2")  # revision 2 becomes 5
    out = kube.kubectl("rollout", "history", "deployment/web").stdout.splitlines()
    theirs = [(int(line.split()[0]), line.split(None, 1)[1].strip()) for line in out[2:] if line.strip()]
    history = rollout_history(RolloutHistoryParams(**WEB))
    assert sorted((r.revision, r.change_cause) for r in history.revisions) == theirs
    assert history.current_revision == 5 and history.previous_revision == 4
    assert history.current_images == ["web:2"] and history.previous_images == ["web:4"]
    # a ReplicaSet brought back by the undo was created hours ago, but took over just now
    assert history.last_change_minutes is not None and history.last_change_minutes < 1


def test_an_unknown_context_is_refused_by_name(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster)
    with pytest.raises(KubeError) as caught:
        rollout_history(RolloutHistoryParams(context="prod-eu", **WEB))
    assert caught.value.kind == "no_config" and "prod-eu" in str(caught.value)
