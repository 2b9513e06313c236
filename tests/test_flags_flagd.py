"""flagd flag definitions in a Kubernetes ConfigMap, through the loopback test API server (sandbox/kube/):
one flag switched off as ``state: DISABLED`` with everything else about it kept; refusals in the API
server's words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.kube import READ_ONLY, RunningCluster
from tasks.flags import steps
from tasks.flags.models import FlagParams
from warroom.settings import get_settings

CHECKOUT = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "on",
    "targeting": {"if": [{"in": ["@beta.example", {"var": "email"}]}, "on", "off"]},
}
SEARCH = {"state": "ENABLED", "variants": {"new": "v2", "old": "v1"}, "defaultVariant": "new"}


def seed(kube: RunningCluster, namespace: str = "production") -> None:
    kube.cluster.add_namespace(namespace)
    kube.cluster.create(
        "configmaps",
        namespace,
        {
            "metadata": {"name": "flagd-flags"},
            "data": {
                "README": "not JSON: skipped",
                "checkout.flagd.json": json.dumps({"flags": {"fast-checkout": CHECKOUT}}),
                "search.flagd.json": json.dumps({"flags": {"new-search": SEARCH}}),
            },
        },
    )


def stored(kube: RunningCluster, key: str, namespace: str = "production") -> dict[str, Any]:
    return json.loads(kube.cluster.get("configmaps", namespace, "flagd-flags")["data"][key])  # type: ignore[no-any-return]


def test_a_flagd_flag_is_disabled_in_its_configmap_and_nothing_else_changes(kube: RunningCluster) -> None:
    seed(kube)
    params = FlagParams(provider="configmap", flag="fast-checkout")
    state = steps.status(params)
    assert state.enabled and "targeting rules" in state.strategies and "defaultVariant on" in state.strategies
    plan = steps.disable(params, dry_run=True)
    assert plan.dry_run and not plan.applied and "would turn configmap flag 'fast-checkout'" in plan.summary
    assert stored(kube, "checkout.flagd.json")["flags"]["fast-checkout"]["state"] == "ENABLED"
    done = steps.disable(params)
    assert done.applied and done.enabled is False, done.summary
    assert stored(kube, "checkout.flagd.json") == {
        "flags": {"fast-checkout": {**CHECKOUT, "state": "DISABLED"}}
    }
    assert stored(kube, "search.flagd.json") == {"flags": {"new-search": SEARCH}}
    after = steps.status(params)
    assert not after.enabled and after.changed_by == "warroom" and after.last_change is not None
    version = kube.cluster.get("configmaps", "production", "flagd-flags")["metadata"]["resourceVersion"]
    again = steps.disable(params)
    assert "already off" in again.summary
    assert (
        kube.cluster.get("configmaps", "production", "flagd-flags")["metadata"]["resourceVersion"] == version
    )


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (
            {"flag": "nope"},
            "no flag 'nope' in ConfigMap production/flagd-flags (flags: fast-checkout, new-search)",
        ),
        ({"flag": "fast-checkout", "environment": "staging"}, 'not found: configmaps "flagd-flags"'),
        (
            {"flag": "fast-checkout", "project": "other"},
            'not found: configmaps "other" in namespace "production"',
        ),
    ],
)
def test_flagd_refusals_say_what_is_missing_and_change_nothing(
    kube: RunningCluster, params: dict[str, str], says: str
) -> None:
    seed(kube)
    before = kube.cluster.get("configmaps", "production", "flagd-flags")
    done = steps.disable(FlagParams(provider="configmap", **params))
    assert not done.applied and says in (done.error or ""), done.error
    assert kube.cluster.get("configmaps", "production", "flagd-flags") == before


def test_flagd_without_the_right_to_patch_is_refused_in_the_api_servers_words(
    kube: RunningCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(kube)
    kube.cluster.grant("viewer-token", "viewer", READ_ONLY)
    kube.write_kubeconfig(kube.kubeconfig, extra={"readonly": "viewer-token"})
    monkeypatch.setenv("WARROOM_KUBE_CONTEXT", "readonly")
    get_settings.cache_clear()
    before = kube.cluster.get("configmaps", "production", "flagd-flags")
    done = steps.disable(FlagParams(provider="configmap", flag="fast-checkout"))
    assert not done.applied
    assert 'forbidden: not allowed to patch configmaps "flagd-flags" in namespace "production"' in (
        done.error or ""
    )
    assert kube.cluster.get("configmaps", "production", "flagd-flags") == before


def test_flagd_without_a_kubernetes_configuration_is_a_refusal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    get_settings.cache_clear()
    done = steps.disable(FlagParams(provider="configmap", flag="fast-checkout"))
    assert not done.applied and "no Kubernetes configuration" in (done.error or "")
