"""The RBAC shipped in deployments/kubernetes/rbac.yaml is exactly what the Kubernetes steps need: every step
runs under those rules alone without a 403, and every rule is used by some step."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import yaml

from sandbox.kube import Rule, RunningCluster, rollout_scene
from tasks.flags import steps as flag_steps
from tasks.flags.models import FlagParams
from tasks.kubernetes.diagnostics import (
    baseline,
    deployment_status,
    events,
    logs,
    pod_health,
    rollout_history,
)
from tasks.kubernetes.mitigations import restart, rollback, scale
from tasks.kubernetes.models import (
    DeploymentRef,
    EventsParams,
    LogsParams,
    PodHealthParams,
    RestartParams,
    RollbackParams,
    RolloutHistoryParams,
    ScaleParams,
)
from tests.conftest import REPO
from warroom.settings import get_settings

WEB = {"namespace": "prod", "deployment": "web"}


@dataclass
class _Counted(Rule):
    """A shipped rule that remembers which of its (verb, resource) pairs a request used."""

    used: set[tuple[str, str]] = field(default_factory=set)

    def allows(self, verb: str, resource: str) -> bool:
        if super().allows(verb, resource):
            self.used.add((verb, resource))
            return True
        return False


def _shipped_rules() -> list[_Counted]:
    documents = list(yaml.safe_load_all((REPO / "deployments" / "kubernetes" / "rbac.yaml").read_text()))
    [role] = [d for d in documents if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "warroom-steps"]
    return [_Counted(set(rule["verbs"]), set(rule["resources"])) for rule in role["rules"]]


def test_every_kubernetes_step_runs_under_the_shipped_rbac_and_every_rule_is_needed(
    kube: RunningCluster,
) -> None:
    rules = _shipped_rules()
    kube.cluster.grant("warroom-sa", "system:serviceaccount:warroom:warroom", list(rules))
    kube.write_kubeconfig(kube.kubeconfig, "warroom-sa")
    get_settings.cache_clear()
    rollout_scene(kube.cluster, state="crashloop", revisions=3)
    kube.cluster.create(
        "configmaps",
        "prod",
        {
            "metadata": {"name": "flagd-flags"},
            "data": {"f.flagd.json": json.dumps({"flags": {"fast": {"state": "ENABLED", "variants": {}}}})},
        },
    )

    # A diagnostic raises on a 403 (KubeError); one that reads several things may report it inside.
    for result in (
        rollout_history(RolloutHistoryParams(**WEB)),
        deployment_status(DeploymentRef(**WEB)),
        pod_health(PodHealthParams(**WEB)),
        events(EventsParams(**WEB)),
        logs(LogsParams(pods=1, **WEB)),
        baseline(DeploymentRef(**WEB)),
    ):
        assert "forbidden" not in result.model_dump_json().lower(), result
    rolled = rollback(RollbackParams(wait="0s", **WEB))
    assert rolled.applied, rolled.summary
    restarted = restart(RestartParams(wait="0s", **WEB))
    assert restarted.applied, restarted.summary
    scaled = scale(ScaleParams(replicas=5, wait="0s", **WEB))
    assert scaled.applied, scaled.summary
    kube.cluster.create_hpa("web", "web", min_replicas=2, max_replicas=10)
    floor = scale(ScaleParams(change="+50%", wait="0s", **WEB))
    assert floor.applied and "minReplicas" in floor.summary, floor.summary
    flag = FlagParams(provider="configmap", flag="fast", environment="prod")
    assert "forbidden" not in flag_steps.status(flag).model_dump_json().lower()
    disabled = flag_steps.disable(flag)
    assert disabled.applied, disabled

    needed = {(v, r) for rule in rules for v in rule.verbs for r in rule.resources}
    used = set().union(*(rule.used for rule in rules))
    assert needed - used == set(), "rules no step used: drop them from rbac.yaml"
