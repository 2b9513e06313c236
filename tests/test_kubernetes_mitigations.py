"""Kubernetes mitigations against the test API server: the same result as kubectl, refusals that say
why, dry runs that change nothing, and API errors that come back as results."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox.kube import READ_ONLY, START, FakeCluster, RunningCluster, rollout_scene, running_cluster
from tasks.kubernetes.mitigations import (
    restart,
    rollback,
    scale,
    scale_target,
)
from tasks.kubernetes.models import RestartParams, RollbackParams, ScaleParams
from warroom.settings import get_settings

WEB = {"namespace": "prod", "deployment": "web"}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def everything(cluster: FakeCluster) -> list[dict[str, Any]]:
    return [
        o for r in ("deployments", "replicasets", "pods", "horizontalpodautoscalers") for o in cluster.list(r)
    ]


def seeded(cluster: FakeCluster) -> FakeCluster:
    """Three revisions (the last crash-looping), a hand-set annotation and a last-applied one."""
    rollout_scene(cluster, state="crashloop", revisions=3)
    cluster.patch(
        "deployments",
        "prod",
        "web",
        "application/merge-patch+json",
        {
            "metadata": {
                "annotations": {
                    "team": "payments",
                    "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}',
                }
            }
        },
    )
    return cluster


@contextmanager
def twin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[RunningCluster, RunningCluster]]:
    """Two clusters seeded identically: one for kubectl, one for Warroom (KUBECONFIG points at it)."""
    with (
        running_cluster(seeded(FakeCluster(now=START)), tmp_path / "a") as for_kubectl,
        running_cluster(seeded(FakeCluster(now=START)), tmp_path / "b") as for_warroom,
    ):
        assert everything(for_kubectl.cluster) == everything(for_warroom.cluster)
        monkeypatch.setenv("KUBECONFIG", str(for_warroom.kubeconfig))
        get_settings.cache_clear()
        yield for_kubectl, for_warroom


@pytest.mark.parametrize("to_revision", [None, 1])
def test_rollback_leaves_the_same_objects_as_kubectl_rollout_undo(
    to_revision: int | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with twin(monkeypatch, tmp_path) as (a, b):
        extra = [f"--to-revision={to_revision}"] if to_revision else []
        a.kubectl("rollout", "undo", "deployment/web", "-n", "prod", *extra)
        result = rollback(RollbackParams(to_revision=to_revision, wait="10s", **WEB))
        assert result.applied and result.ready and result.error is None, result
        assert result.revision == 4
        assert result.way_back == "kubectl rollout undo deployment/web -n prod --to-revision=3"
        mine, theirs = (
            b.cluster.get("deployments", "prod", "web"),
            a.cluster.get("deployments", "prod", "web"),
        )
        assert mine == theirs
        assert everything(b.cluster) == everything(a.cluster)
        # kubectl's annotation rules: the Deployment's own bookkeeping kept, the rest from the ReplicaSet
        annotations = mine["metadata"]["annotations"]
        assert "team" not in annotations
        assert annotations["kubectl.kubernetes.io/last-applied-configuration"] == '{"kind":"Deployment"}'
        want = "release 2" if to_revision is None else "release 1"
        assert annotations["kubernetes.io/change-cause"] == want
        assert "pod-template-hash" not in mine["spec"]["template"]["metadata"]["labels"]


def test_restart_leaves_the_same_objects_as_kubectl_rollout_restart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with twin(monkeypatch, tmp_path) as (a, b):
        a.kubectl("rollout", "restart", "deployment/web", "-n", "prod")
        result = restart(RestartParams(wait="0s", **WEB))
        assert result.applied and result.after[RESTARTED_AT]

        def without_stamp(d: dict[str, Any]) -> dict[str, Any]:
            """The restart's own time stamp (and the ReplicaSet name hashed from it) set aside."""
            stamp = d["spec"]["template"]["metadata"]["annotations"].pop(RESTARTED_AT)
            assert stamp.endswith("Z")
            text = re.sub(r'ReplicaSet \\"web-[a-z0-9]+\\"', "ReplicaSet web-*", json.dumps(d))
            return dict(json.loads(text))

        deployments = (
            without_stamp(b.cluster.get("deployments", "prod", "web")),
            without_stamp(a.cluster.get("deployments", "prod", "web")),
        )
        assert deployments[0] == deployments[1]
        assert (
            b.cluster.get("deployments", "prod", "web")["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"
            ]
            == "4"
        )


def test_rollback_with_no_earlier_revision_is_refused_and_changes_nothing(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, revisions=1)
    before = everything(kube.cluster)
    result = rollback(RollbackParams(**WEB))
    assert not result.applied and result.error == "refused"
    assert result.summary == (
        "no earlier revision of deployment web to roll back to (only revision 1 exists); nothing changed"
    )
    assert everything(kube.cluster) == before
    assert not any(method == "PATCH" for method, _ in kube.cluster.requests)


def test_rollback_of_a_paused_deployment_is_refused(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    kube.kubectl("rollout", "pause", "deployment/web")
    result = rollback(RollbackParams(**WEB))
    assert not result.applied and result.error == "refused"
    assert "deployment web is paused: resume it first (kubectl rollout resume deployment/web -n prod)" in (
        result.summary
    )


def test_rollback_to_an_unknown_revision_names_the_known_ones(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, revisions=3)
    result = rollback(RollbackParams(to_revision=7, **WEB))
    assert result.error == "refused"
    assert result.summary.startswith("revision 7 of deployment web not found (revisions: 1, 2, 3)")


def test_dry_runs_change_nothing_and_say_what_would_change(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", revisions=3)
    kube.cluster.create_deployment("api", "api:1", replicas=4)
    kube.cluster.create_hpa("api", "api", min_replicas=4, max_replicas=10)
    before = everything(kube.cluster)
    back = rollback(RollbackParams(**WEB), dry_run=True)
    assert back.dry_run and not back.applied and back.error is None
    assert back.summary.startswith(
        "would roll prod/web back from revision 3 (web:3) to the template of revision 2"
    )
    assert back.after["images"] == ["web:2"]  # as the API server computed it
    assert back.way_back == "kubectl rollout undo deployment/web -n prod --to-revision=3"
    up = scale(ScaleParams(change="+50%", **WEB), dry_run=True)
    assert up.summary == "would scale prod/web from 4 to 6 replicas" and up.after == {"replicas": 6}
    hpa = scale(ScaleParams(change="x2", namespace="prod", deployment="api"), dry_run=True)
    assert "would raise its minReplicas from 4 to 8" in hpa.summary
    again = restart(RestartParams(**WEB), dry_run=True)
    assert again.summary.startswith("would restart the pods of prod/web") and again.after[RESTARTED_AT]
    assert everything(kube.cluster) == before
    assert sum(1 for method, _ in kube.cluster.requests if method == "PATCH") == 4


@pytest.mark.parametrize(
    ("current", "kwargs", "expected", "note"),
    [
        (4, {"change": "+50%"}, 6, ""),
        (5, {"change": "+50%"}, 8, ""),
        (4, {"change": "x2", "max_replicas": 7}, 7, " (asked for 8, clamped to max_replicas 7)"),
        (4, {"change": "-2"}, 2, ""),
        (4, {"change": "-10", "min_replicas": 2}, 2, " (asked for -6, clamped to min_replicas 2)"),
        (4, {"replicas": 40, "max_replicas": 20}, 20, " (asked for 40, clamped to max_replicas 20)"),
    ],
)
def test_scale_targets_are_relative_or_absolute_and_clamped(
    current: int, kwargs: dict[str, Any], expected: int, note: str
) -> None:
    assert scale_target(current, ScaleParams(**WEB, **kwargs)) == (expected, note)


def test_scale_out_is_clamped_and_waits_for_the_replicas(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster)
    result = scale(ScaleParams(change="x3", max_replicas=10, wait="10s", **WEB))
    assert result.applied and result.ready, result
    assert result.summary.startswith(
        "scaled prod/web from 4 to 10 replicas (asked for 12, clamped to max_replicas 10)"
    )
    assert result.way_back == "kubectl scale deployment/web -n prod --replicas=4"
    assert len(kube.cluster.pods_of("web")) == 10
    again = scale(ScaleParams(change="x3", max_replicas=10, **WEB))
    assert not again.applied and again.error == "refused"
    assert again.summary.startswith(
        "prod/web already has 10 replicas (asked for 30, clamped to max_replicas 10)"
    )


def test_scale_with_an_hpa_raises_its_min_replicas_instead(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster)
    kube.cluster.create_hpa("web", "web", min_replicas=2, max_replicas=10)
    result = scale(ScaleParams(change="+50%", wait="10s", **WEB))
    assert result.applied and result.ready, result
    assert result.summary.startswith(
        "HPA web manages prod/web: raised its minReplicas from 2 to 6 instead of scaling the Deployment"
    )
    assert kube.cluster.get("horizontalpodautoscalers", "prod", "web")["spec"]["minReplicas"] == 6
    assert kube.cluster.get("deployments", "prod", "web")["spec"]["replicas"] == 6  # the HPA did it
    assert 'minReplicas":2' in result.way_back
    capped = scale(ScaleParams(change="x5", wait="0s", **WEB))
    assert "(HPA web maxReplicas 10 caps it)" in capped.summary
    assert kube.cluster.get("horizontalpodautoscalers", "prod", "web")["spec"]["minReplicas"] == 10
    down = scale(ScaleParams(replicas=3, **WEB))
    assert not down.applied and "scaling in is its job" in down.summary


def test_a_forbidden_change_is_a_clear_result(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    kube.cluster.grant("viewer-token", "viewer", READ_ONLY)
    kube.write_kubeconfig(kube.kubeconfig, extra={"readonly": "viewer-token"})
    before = everything(kube.cluster)
    result = rollback(RollbackParams(context="readonly", **WEB))
    assert not result.applied and result.error == "forbidden"
    assert result.summary.startswith(
        'forbidden: not allowed to patch deployments.apps "web" in namespace "prod"'
    )
    assert 'User "viewer" cannot patch resource "deployments"' in result.summary
    assert result.way_back == "nothing changed"
    assert everything(kube.cluster) == before
    assert "viewer-token" not in result.model_dump_json()
    # the default context of the same kubeconfig may
    assert rollback(RollbackParams(wait="0s", **WEB)).applied


def _on_first_read(kube: RunningCluster, action: Any) -> list[int]:
    """Run ``action`` right after the first read of deployment web (a write racing Warroom's)."""
    fired: list[int] = []

    def hook(method: str, path: str) -> None:
        if method == "GET" and path.endswith("/deployments/web") and not fired:
            fired.append(1)
            action()

    kube.cluster.after_request.append(hook)
    return fired


def test_a_conflict_is_retried_once_from_a_fresh_read(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    fired = _on_first_read(kube, lambda: kube.cluster.touch("deployments", "prod", "web"))
    result = rollback(RollbackParams(wait="5s", **WEB))
    assert fired and result.applied and result.ready, result
    assert sum(1 for method, _ in kube.cluster.requests if method == "PATCH") == 2


def test_a_new_rollout_meanwhile_is_not_rolled_over(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    _on_first_read(kube, lambda: kube.cluster.set_image("web", "web:3"))
    result = rollback(RollbackParams(**WEB))
    assert not result.applied and result.error == "refused"
    assert "moved from revision 2 to 3 while rolling back" in result.summary
    d = kube.cluster.get("deployments", "prod", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "web:3"


def test_conflicts_twice_give_up_with_a_clear_result(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster)

    def always(method: str, path: str) -> None:
        if method == "GET" and path.endswith("/deployments/web"):
            kube.cluster.touch("deployments", "prod", "web")

    kube.cluster.after_request.append(always)
    result = scale(ScaleParams(replicas=6, **WEB))
    assert not result.applied and result.error == "conflict"
    assert result.summary.startswith('conflict: patch deployments.apps/scale "web" in namespace "prod"')
    assert kube.cluster.get("deployments", "prod", "web")["spec"]["replicas"] == 4


def test_a_rollout_that_does_not_finish_in_time_is_reported(kube: RunningCluster) -> None:
    rollout_scene(kube.cluster, state="crashloop", revisions=3)
    kube.cluster.behaviour["web:2"] = "crashloop"  # the previous revision is no better
    result = rollback(RollbackParams(wait="2s", **WEB))
    assert result.applied and result.ready is False
    assert result.rollout and result.rollout.startswith("not finished after 2s: Waiting for deployment")


def test_an_api_server_that_does_not_answer_a_change_leaves_the_outcome_unknown(
    kube: RunningCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    monkeypatch.setenv("WARROOM_KUBE_TIMEOUT", "1")
    get_settings.cache_clear()
    kube.cluster.stall["PATCH"] = 6.0
    started = time.monotonic()
    result = rollback(RollbackParams(**WEB))
    assert time.monotonic() - started < 4.5  # cut off by the 1 s timeout, far before the 6 s answer
    assert not result.applied and result.error == "outcome_unknown"
    assert "did not answer" in result.summary and "may or may not have been made" in result.summary
    assert "kubectl get deployments.apps web -n prod" in result.summary
    assert sum(1 for method, _ in kube.cluster.requests if method == "PATCH") == 1


def test_losing_the_api_server_after_the_change_still_reports_it_applied(
    kube: RunningCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout_scene(kube.cluster, state="crashloop")
    monkeypatch.setenv("WARROOM_KUBE_TIMEOUT", "0.5")
    get_settings.cache_clear()

    def slow_reads_after_the_patch(method: str, path: str) -> None:
        if method == "PATCH":
            kube.cluster.stall["GET"] = 2.0

    kube.cluster.after_request.append(slow_reads_after_the_patch)
    result = rollback(RollbackParams(wait="30s", **WEB))
    assert result.applied and result.error is None and result.ready is None
    assert result.rollout and result.rollout.startswith("could not follow the rollout: cannot get")
    assert result.way_back == "kubectl rollout undo deployment/web -n prod --to-revision=2"
