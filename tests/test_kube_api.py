"""The test API server answers kubectl the way a real one does (so Warroom is tested against the real
wire format, not against what we think it is)."""

from __future__ import annotations

import json

from sandbox.kube import READ_ONLY, RunningCluster


def test_kubectl_reads_rollout_history_from_replica_sets(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1", annotations={"kubernetes.io/change-cause": "v1 release"})
    kube.cluster.set_image("web", "web:2", change_cause="v2 release")
    out = kube.kubectl("rollout", "history", "deployment/web", "-n", "prod").stdout
    assert "REVISION  CHANGE-CAUSE" in out
    assert "1         v1 release" in out and "2         v2 release" in out
    detail = kube.kubectl("rollout", "history", "deployment/web", "--revision=1").stdout
    assert "web:1" in detail and "pod-template-hash=" in detail


def test_kubectl_rollout_undo_brings_back_the_old_replica_set_as_a_new_revision(kube: RunningCluster) -> None:
    cluster = kube.cluster
    cluster.behaviour["web:2"] = "crashloop"
    cluster.create_deployment("web", "web:1", replicas=4)
    cluster.set_image("web", "web:2")
    [old] = [
        rs
        for rs in cluster.replica_sets_of("web")
        if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"
    ]
    assert old["spec"]["replicas"] == 3  # the rolling update stalled: maxUnavailable 25% of 4 old pods went
    assert (
        kube.kubectl("rollout", "undo", "deployment/web").stdout.strip() == "deployment.apps/web rolled back"
    )
    d = cluster.get("deployments", "prod", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    back = cluster.get("replicasets", "prod", old["metadata"]["name"])
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert back["spec"]["replicas"] == 4
    assert all(
        p["metadata"]["labels"]["pod-template-hash"] in back["metadata"]["name"]
        for p in cluster.pods_of("web")
    )
    history = kube.kubectl("rollout", "history", "deployment/web").stdout
    assert "\n2 " in history and "\n3 " in history and "\n1 " not in history


def test_kubectl_refuses_to_undo_without_history_or_when_paused(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1")
    done = kube.kubectl("rollout", "undo", "deployment/web", check=False)
    assert done.returncode != 0 and 'no rollout history found for deployment "web"' in done.stderr
    kube.cluster.create_deployment("api", "api:1")
    kube.cluster.set_image("api", "api:2")
    kube.kubectl("rollout", "pause", "deployment/api")
    done = kube.kubectl("rollout", "undo", "deployment/api", check=False)
    assert done.returncode != 0 and "you cannot rollback a paused deployment" in done.stderr


def test_kubectl_scale_goes_through_the_scale_subresource(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    assert (
        kube.kubectl("scale", "deployment/web", "--replicas=5").stdout.strip() == "deployment.apps/web scaled"
    )
    assert ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale") in kube.cluster.requests
    assert len(kube.cluster.pods_of("web")) == 5
    scale = json.loads(
        kube.kubectl("get", "--raw", "/apis/apps/v1/namespaces/prod/deployments/web/scale").stdout
    )
    assert (
        scale["kind"] == "Scale"
        and scale["spec"]["replicas"] == 5
        and scale["status"]["selector"] == "app=web"
    )


def test_kubectl_rollout_restart_rolls_a_new_revision_with_the_same_image(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    kube.kubectl("rollout", "restart", "deployment/web")
    d = kube.cluster.get("deployments", "prod", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert {p["spec"]["containers"][0]["image"] for p in kube.cluster.pods_of("web")} == {"web:1"}


def test_server_side_dry_run_changes_nothing(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    before = kube.cluster.list("deployments") + kube.cluster.list("replicasets") + kube.cluster.list("pods")
    out = kube.kubectl("scale", "deployment/web", "--replicas=9", "--dry-run=server").stdout
    assert "scaled (server dry run)" in out
    kube.kubectl("set", "image", "deployment/web", "web=web:9", "--dry-run=server")
    after = kube.cluster.list("deployments") + kube.cluster.list("replicasets") + kube.cluster.list("pods")
    assert after == before


def test_every_patch_format_applies_as_the_api_server_applies_it(kube: RunningCluster) -> None:
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    kube.kubectl("patch", "deployment/web", "--type=merge", "-p", '{"metadata":{"labels":{"team":"a"}}}')
    kube.kubectl(
        "patch", "deployment/web", "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":3}]'
    )
    kube.kubectl(  # strategic merge: containers merge by name, the port list is kept
        "patch",
        "deployment/web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:3"}]}}}}',
    )
    d = kube.cluster.get("deployments", "prod", "web")
    assert d["metadata"]["labels"] == {"app": "web", "team": "a"}
    assert d["spec"]["replicas"] == 3
    [container] = d["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "web:3" and container["ports"] == [
        {"containerPort": 8080, "protocol": "TCP"}
    ]
    bad = kube.kubectl(
        "patch",
        "deployment/web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/nope/x","value":1}]',
        check=False,
    )
    assert bad.returncode != 0 and "The request is invalid: doc is missing path" in bad.stderr


def test_errors_are_status_objects_kubectl_understands(kube: RunningCluster) -> None:
    missing = kube.kubectl("get", "deployment", "nope", check=False)
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in missing.stderr
    kube.cluster.create_deployment("web", "web:1")
    kube.cluster.grant("viewer-token", "viewer", READ_ONLY)
    kube.write_kubeconfig(kube.kubeconfig, token="viewer-token")
    denied = kube.kubectl("scale", "deployment/web", "--replicas=3", check=False)
    assert (
        'Error from server (Forbidden): deployments.apps "web" is forbidden: User "viewer" cannot patch '
        'resource "deployments/scale" in API group "apps" in the namespace "prod"'
    ) in denied.stderr
    stale = kube.cluster.get("deployments", "prod", "web")
    kube.cluster.set_image("web", "web:2")
    kube.write_kubeconfig(kube.kubeconfig)
    (kube.directory / "stale.json").write_text(json.dumps(stale))
    # --validate=false: this server publishes no OpenAPI document to validate against
    conflict = kube.kubectl(
        "replace", "--validate=false", "-f", str(kube.directory / "stale.json"), check=False
    )
    assert (
        "Error from server (Conflict)" in conflict.stderr
        and "the object has been modified" in conflict.stderr
    )


def test_label_and_field_selectors_filter_like_the_api_server(kube: RunningCluster) -> None:
    kube.cluster.behaviour["api:1"] = "pending"
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    kube.cluster.create_deployment("api", "api:1", replicas=3)
    names = kube.kubectl("get", "pods", "-l", "app in (api)", "-o", "name").stdout.split()
    assert len(names) == 3 and all(n.startswith("pod/api-") for n in names)
    assert len(kube.kubectl("get", "pods", "-l", "app!=api", "-o", "name").stdout.split()) == 2
    pending = kube.kubectl(
        "get", "pods", "--field-selector", "status.phase=Pending", "-o", "name"
    ).stdout.split()
    assert len(pending) == 3
    warnings = json.loads(
        kube.kubectl("get", "events", "--field-selector", "type=Warning", "-o", "json").stdout
    )
    assert {e["reason"] for e in warnings["items"]} == {"FailedScheduling"}
    bad = kube.kubectl("get", "pods", "--field-selector", "spec.image=x", check=False)
    assert bad.returncode != 0 and "is not a known field selector" in bad.stderr


def test_kubectl_logs_reads_current_and_previous_containers(kube: RunningCluster) -> None:
    kube.cluster.behaviour["web:1"] = "crashloop"
    kube.cluster.create_deployment("web", "web:1", replicas=2)
    out = kube.kubectl("logs", "deployment/web", "--tail=2").stdout
    assert out.splitlines() == [
        "ERROR required setting DATABASE_URL is missing",
        "panic: invalid configuration",
    ]
    pod = kube.cluster.pods_of("web")[0]["metadata"]["name"]
    assert "panic" in kube.kubectl("logs", pod, "--previous").stdout
    kube.cluster.create_deployment("api", "api:1")
    api_pod = kube.cluster.pods_of("api")[0]["metadata"]["name"]
    none = kube.kubectl("logs", api_pod, "--previous", check=False)
    assert (
        none.returncode != 0
        and f'previous terminated container "api" in pod "{api_pod}" not found' in none.stderr
    )
