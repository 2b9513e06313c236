"""The shipped Kubernetes runbooks end to end: a real Prefect server, the test Kubernetes API server,
and approvers answering the gate from outside the run."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from flows.answer import answer_gate
from sandbox.kube import RunningCluster, rollout_scene
from tests.conftest import REPO
from tests.flow_helpers import FlowThread, code, wait_for_gate, wait_for_incident
from warroom.ledger import Store
from warroom.settings import get_settings


@pytest.fixture
def k8s_env(
    kube: RunningCluster,
    prefect_api: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Store]:
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    # one ledger for the module's runs, like the one Prefect server: incident numbers stay unique
    monkeypatch.setenv(
        "WARROOM_DATABASE_URL", f"sqlite:///{tmp_path_factory.getbasetemp() / 'k8s-ledger.db'}"
    )
    monkeypatch.setenv("WARROOM_APPROVER_GROUPS", json.dumps({"sre": ["alice", "bob"]}))
    get_settings.cache_clear()
    store = Store.from_settings()
    yield store
    store.close()


def firing(alertname: str, **labels: str) -> dict[str, object]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, "namespace": "prod", "deployment": "web", **labels},
        "annotations": {"summary": f"{alertname} on prod/web"},
        "fingerprint": uuid.uuid4().hex[:16],
    }


def image_of(kube: RunningCluster) -> str:
    d = kube.cluster.get("deployments", "prod", "web")
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def test_bad_deploy_is_rolled_back_after_a_second_engineer_approves(
    k8s_env: Store, kube: RunningCluster
) -> None:
    store = k8s_env
    rollout_scene(kube.cluster, state="crashloop", minutes_ago=7, revisions=3)
    key = f"k8s-bad-deploy:by-hand:{uuid.uuid4().hex[:8]}"
    thread = FlowThread(
        runbook="k8s-bad-deploy",
        params={"namespace": "prod", "deployment": "web"},
        requested_by="alice",
        dedup_key=key,
    )
    thread.start()
    incident = wait_for_incident(store, key)
    gate = wait_for_gate(incident.id)
    assert gate.proposal == "rollback"
    before = kube.cluster.get("deployments", "prod", "web")
    events = store.timeline(incident.id)
    [proposed] = [e for e in events if e.kind == "mitigation.proposed"]
    assert proposed.data["dry_run"]["summary"].startswith(
        "would roll prod/web back from revision 3 (web:3) to the template of revision 2 (web:2)"
    )
    assert proposed.data["way_back"] == "kubectl rollout undo deployment/web -n prod --to-revision=3"
    assert set(proposed.data["evidence"]) == {"rollout", "baseline"}
    assert proposed.data["evidence"]["baseline"]["regressed"] is True
    diagnostics = {e.data["diagnostic"]: e for e in events if e.kind == "diagnostic.result"}
    assert set(diagnostics) == {"rollout", "pods", "events", "logs", "baseline"}
    assert "CrashLoopBackOff x2" in diagnostics["pods"].text
    troubled = {name for name, e in diagnostics.items() if e.data["trouble"]}
    assert troubled == {"pods", "baseline"}  # what the post-mortem's root cause lists as evidence
    assert [e.kind for e in events if e.kind == "diagnostic.skipped"] == [
        "diagnostic.skipped"
    ]  # no health_url
    # whoever started the run may not approve it (four eyes); nothing changed meanwhile
    refused = answer_gate(store, incident.id, approver="alice", code=code("alice"), reason="my own deploy")
    assert refused.verdict == "refused" and "four-eyes" in refused.text
    assert kube.cluster.get("deployments", "prod", "web") == before
    granted = answer_gate(store, incident.id, approver="bob", code=code("bob"), reason="v3 crash-loops")
    assert granted.verdict == "granted", granted
    outcome = thread.finish()
    assert thread.error is None, thread.error
    assert outcome.outcome == "resolved", outcome
    assert image_of(kube) == "web:2"
    d = kube.cluster.get("deployments", "prod", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert all(p["status"]["phase"] == "Running" for p in kube.cluster.pods_of("web"))
    events = store.timeline(incident.id)
    kinds = [e.kind for e in events]
    assert (
        kinds.index("approval.granted")
        < kinds.index("mitigation.started")
        < kinds.index("mitigation.applied")
    )
    [applied] = [e for e in events if e.kind == "mitigation.applied"]
    assert "rolled prod/web back from revision 3 (web:3)" in applied.text
    assert "successfully rolled out" in applied.text
    assert [e.text.split(" ")[0] for e in events if e.kind == "verification.passed"] == [
        "rollout_done",
        "pods_healthy",
    ]
    assert store.get(incident.id).severity.value == "P2"


def test_crash_loop_of_an_old_revision_is_restarted_not_rolled_back(
    k8s_env: Store, kube: RunningCluster
) -> None:
    store = k8s_env
    rollout_scene(kube.cluster, state="oom", minutes_ago=300)
    alert = firing("KubePodCrashLooping", severity="warning")
    thread = FlowThread(runbook="k8s-crash-loop", alert=alert)
    thread.start()
    incident = wait_for_incident(store, f"k8s-crash-loop:{alert['fingerprint']}")
    gate = wait_for_gate(incident.id)
    assert gate.proposal == "restart"
    texts = [e.text for e in store.timeline(incident.id)]
    assert any(t.startswith("rollback: not proposed") for t in texts)
    kube.cluster.behaviour["web:2"] = "healthy"  # the leak: fresh pods are fine for a while
    granted = answer_gate(
        store, incident.id, approver="bob", code=code("bob"), reason="restart to shed memory"
    )
    assert granted.verdict == "granted", granted
    outcome = thread.finish()
    assert thread.error is None, thread.error
    assert outcome.outcome == "resolved", outcome
    d = kube.cluster.get("deployments", "prod", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert image_of(kube) == "web:2"


def test_saturation_with_an_hpa_raises_its_floor_after_approval(k8s_env: Store, kube: RunningCluster) -> None:
    store = k8s_env
    rollout_scene(kube.cluster, minutes_ago=600)
    kube.cluster.create_hpa("web", "web", min_replicas=4, max_replicas=20)
    alert = firing("HighCPU", severity="critical")
    thread = FlowThread(runbook="k8s-saturation", alert=alert)
    thread.start()
    incident = wait_for_incident(store, f"k8s-saturation:{alert['fingerprint']}")
    wait_for_gate(incident.id)
    [proposed] = [e for e in store.timeline(incident.id) if e.kind == "mitigation.proposed"]
    assert "would raise its minReplicas from 4 to 6" in proposed.data["dry_run"]["summary"]
    granted = answer_gate(store, incident.id, approver="alice", code=code("alice"), reason="CPU at 95%")
    assert granted.verdict == "granted", granted
    outcome = thread.finish()
    assert thread.error is None and outcome.outcome == "resolved", (thread.error, outcome)
    assert kube.cluster.get("horizontalpodautoscalers", "prod", "web")["spec"]["minReplicas"] == 6
    assert len(kube.cluster.pods_of("web")) == 6
    assert store.get(incident.id).severity.value == "P2"


def test_the_second_bad_deploy_on_a_service_recalls_the_first_and_how_its_rollback_went(
    k8s_env: Store, kube: RunningCluster
) -> None:
    store = k8s_env
    service = f"shop-{uuid.uuid4().hex[:6]}"  # this test's own service: the module's ledger is shared
    rollout_scene(kube.cluster, state="crashloop", minutes_ago=7, revisions=3)
    first_alert = firing("HighErrorRate", severity="critical", service=service)
    first = FlowThread(runbook="k8s-bad-deploy", alert=first_alert)
    first.start()
    before = wait_for_incident(store, f"k8s-bad-deploy:{first_alert['fingerprint']}")
    wait_for_gate(before.id)
    assert not [e for e in store.timeline(before.id) if e.kind == "past.similar"]  # the first of its kind
    granted = answer_gate(store, before.id, approver="bob", code=code("bob"), reason="v3 crash-loops")
    assert granted.verdict == "granted", granted
    assert first.finish().outcome == "resolved"

    # the service's other Deployment goes bad the same way
    rollout_scene(kube.cluster, "web2", state="crashloop", minutes_ago=5, revisions=3)
    again_alert = firing("HighErrorRate", severity="critical", service=service, deployment="web2")
    again = FlowThread(runbook="k8s-bad-deploy", alert=again_alert)
    again.start()
    now = wait_for_incident(store, f"k8s-bad-deploy:{again_alert['fingerprint']}")
    wait_for_gate(now.id)
    events = store.timeline(now.id)
    [past] = [e for e in events if e.kind == "past.similar"]
    [recalled] = past.data["incidents"]
    assert recalled["incident"] == before.id and recalled["match"] == "the same runbook on the same service"
    assert recalled["changes"][0]["proposal"] == "rollback" and recalled["changes"][0]["approved_by"] == [
        "bob"
    ]
    [proposed] = [e for e in events if e.kind == "mitigation.proposed"]
    assert (
        proposed.data["last_time"].startswith(f"last time ({before.id}, ")
        and "approved by bob" in proposed.data["last_time"]
    )
    rejected = answer_gate(
        store, now.id, approver="bob", code=code("bob"), reason="not this time", decision="reject"
    )
    assert rejected.verdict == "rejected", rejected
    again.finish()
