"""The controllers a real cluster runs after every write: Deployments (rollouts, revisions, history,
progress deadlines), ReplicaSets, and an HPA stand-in; the kubelet's part is in kubelet.py."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.kube.api import (
    DESIRED,
    HASH_LABEL,
    MAX,
    REVISION,
    REVISION_HISTORY,
    SKIP_COPY,
)
from sandbox.kube.defaults import (
    _intstr,
    _owned_by,
    _pod_ready,
    _safe_hash,
    _ts,
    _without_hash,
)
from sandbox.kube.kubelet import Kubelet


class FakeCluster(Kubelet):
    """The objects, the controllers and the clock of one cluster."""

    # --- controllers ---

    def reconcile(self) -> None:
        with self.lock:
            for hpa in list(self.objects["horizontalpodautoscalers"].values()):
                self._sync_hpa(hpa)
            for d in list(self.objects["deployments"].values()):
                self._sync_deployment(d)

    def _save_if_changed(self, resource: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if before != after:
            self._store(resource, after)

    def _sync_hpa(self, hpa: dict[str, Any]) -> None:
        ns = hpa["metadata"]["namespace"]
        ref = hpa["spec"]["scaleTargetRef"]
        target = self.objects["deployments"].get((ns, ref["name"]))
        if target is None or ref.get("kind") != "Deployment":
            return
        lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        current = target["spec"]["replicas"]
        desired = min(max(current, lo), hi)
        if desired != current:
            after = copy.deepcopy(target)
            after["spec"]["replicas"] = desired
            after["metadata"]["generation"] += 1
            self._store("deployments", after)
        before = copy.deepcopy(hpa)
        status = {"currentReplicas": current, "desiredReplicas": desired}
        last_scale = (
            _ts(self.now) if desired != current else (before.get("status") or {}).get("lastScaleTime")
        )
        hpa["status"] = {**status, **({"lastScaleTime": last_scale} if last_scale else {})}
        self._save_if_changed("horizontalpodautoscalers", before, hpa)

    def _sync_deployment(self, d: dict[str, Any]) -> None:
        ns = d["metadata"]["namespace"]
        uid = d["metadata"]["uid"]
        rss = [rs for (n, _), rs in self.objects["replicasets"].items() if n == ns and _owned_by(rs, d)]
        template = d["spec"]["template"]
        new = next(
            (rs for rs in rss if _without_hash(rs["spec"]["template"]) == _without_hash(template)), None
        )
        max_rev = max(
            (int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in rss), default=0
        )
        desired = d["spec"]["replicas"]
        paused = bool(d["spec"].get("paused"))
        if new is None and not paused:
            new = self._new_replica_set(d, max_rev + 1)
            rss.append(new)
            self._progress[uid] = self.now
        elif new is not None and not paused:
            before = copy.deepcopy(new)
            annotations = new["metadata"].setdefault("annotations", {})
            rev = int(annotations.get(REVISION, "0"))
            if rev < max_rev:  # rolled back to an older template: it becomes the newest revision
                history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, str(rev)])
                annotations[REVISION] = str(max_rev + 1)
                self._progress[uid] = self.now
            for k, v in (d["metadata"].get("annotations") or {}).items():
                if k not in SKIP_COPY:
                    annotations[k] = v
            self._save_if_changed("replicasets", before, new)
        before_d = copy.deepcopy(d)
        if new is not None:
            d["metadata"].setdefault("annotations", {})[REVISION] = new["metadata"]["annotations"][REVISION]
        # replicas: a healthy new revision takes over; an unhealthy one stalls where a rolling update would
        targets: dict[str, int] = {}
        if new is not None:
            olds = [rs for rs in rss if rs is not new and rs["spec"].get("replicas", 0) > 0]
            strategy = d["spec"]["strategy"]
            healthy = self._image_state(new["spec"]["template"]) == "healthy"
            if healthy or not olds or strategy["type"] == "Recreate":
                targets = {rs["metadata"]["name"]: 0 for rs in rss}
                targets[new["metadata"]["name"]] = desired
            else:
                rolling = strategy.get("rollingUpdate") or {}
                surge = _intstr(rolling.get("maxSurge", "25%"), desired, True)
                unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, False)
                if surge == 0 and unavailable == 0:
                    unavailable = 1
                keep = max(desired - unavailable, 0)
                targets = {rs["metadata"]["name"]: 0 for rs in rss}
                targets[new["metadata"]["name"]] = min(desired, surge + unavailable)
                main = max(olds, key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))
                targets[main["metadata"]["name"]] = keep
        for rs in rss:
            want = targets.get(rs["metadata"]["name"], rs["spec"].get("replicas", 0))
            self._sync_replica_set(rs, want, desired, d)
        self._cleanup(d, rss, new)
        self._deployment_status(d, new)
        self._save_if_changed("deployments", before_d, d)

    def _new_replica_set(self, d: dict[str, Any], revision: int) -> dict[str, Any]:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = _safe_hash(_without_hash(template))
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        annotations = {
            k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in SKIP_COPY
        }
        annotations[REVISION] = str(revision)
        annotations[DESIRED] = str(d["spec"]["replicas"])
        annotations[MAX] = str(d["spec"]["replicas"] + 1)
        rs = self._stamp(
            "replicasets",
            ns,
            {
                "metadata": {
                    "name": f"{name}-{pod_hash}",
                    "labels": {**template["metadata"]["labels"]},
                    "annotations": annotations,
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": d["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {"replicas": 0, "selector": selector, "template": template},
                "status": {"replicas": 0},
            },
        )
        self._event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} from 0 to {d['spec']['replicas']}",
        )
        self._store("replicasets", rs)
        return self.objects["replicasets"][(ns, rs["metadata"]["name"])]

    def _sync_replica_set(self, rs: dict[str, Any], replicas: int, desired: int, d: dict[str, Any]) -> None:
        ns = rs["metadata"]["namespace"]
        before = copy.deepcopy(rs)
        if rs["spec"].get("replicas", 0) != replicas:
            rs["spec"]["replicas"] = replicas
            rs["metadata"]["generation"] += 1
            rs["metadata"]["annotations"][DESIRED] = str(desired)
            rs["metadata"]["annotations"][MAX] = str(desired + 1)
        pods = sorted(
            (p for (n, _), p in self.objects["pods"].items() if n == ns and _owned_by(p, rs)),
            key=lambda p: p["metadata"]["name"],
        )
        for p in pods[replicas:]:
            del self.objects["pods"][(ns, p["metadata"]["name"])]
        for _ in range(len(pods), replicas):
            pods.append(self._new_pod(rs))
        live = pods[:replicas]
        ready = sum(1 for p in live if _pod_ready(p))
        rs["status"] = {
            "replicas": len(live),
            "fullyLabeledReplicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"]["generation"],
        }
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if rs["status"][k] == 0:
                del rs["status"][k]
        self._save_if_changed("replicasets", before, rs)

    def _cleanup(self, d: dict[str, Any], rss: list[dict[str, Any]], new: dict[str, Any] | None) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        old = [rs for rs in rss if rs is not new and rs["spec"].get("replicas", 0) == 0]
        old.sort(key=lambda rs: int(rs["metadata"]["annotations"].get(REVISION, "0")))
        for rs in old[: max(len(old) - limit, 0)]:
            self.objects["replicasets"].pop((rs["metadata"]["namespace"], rs["metadata"]["name"]), None)

    def _deployment_status(self, d: dict[str, Any], new: dict[str, Any] | None) -> None:
        ns = d["metadata"]["namespace"]
        rss = [rs for (n, _), rs in self.objects["replicasets"].items() if n == ns and _owned_by(rs, d)]
        desired = d["spec"]["replicas"]
        total = sum(rs["status"].get("replicas", 0) for rs in rss)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in rss)
        updated = new["status"].get("replicas", 0) if new else 0
        new_ready = new["status"].get("readyReplicas", 0) if new else 0
        old_status = d.get("status") or {}
        old_conditions = {c["type"]: c for c in old_status.get("conditions", [])}
        rolling = d["spec"]["strategy"].get("rollingUpdate") or {}
        unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, False) if rolling else 0
        available_ok = ready >= desired - unavailable
        uid = d["metadata"]["uid"]
        since = self._progress.get(uid, self.now)
        rs_name = new["metadata"]["name"] if new else ""
        complete = new is not None and updated == desired and total == desired and new_ready == desired
        if d["spec"].get("paused"):
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif (self.now - since).total_seconds() > d["spec"]["progressDeadlineSeconds"]:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        available = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if available_ok
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        )
        conditions = []
        for type_, (state, reason, message) in (("Available", available), ("Progressing", progressing)):
            previous = old_conditions.get(type_)
            changed = previous is None or (previous["status"], previous["reason"], previous["message"]) != (
                state,
                reason,
                message,
            )
            transition = (
                previous["lastTransitionTime"] if previous and previous["status"] == state else _ts(self.now)
            )
            update = _ts(self.now) if changed else previous["lastUpdateTime"]  # type: ignore[index]
            if type_ == "Progressing" and state == "True" and reason == "ReplicaSetUpdated":
                update = _ts(since)
            conditions.append(
                {
                    "type": type_,
                    "status": state,
                    "lastUpdateTime": update,
                    "lastTransitionTime": transition,
                    "reason": reason,
                    "message": message,
                }
            )
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(total - ready, desired - ready, 0),
            "conditions": conditions,
        }
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if status[k] == 0:
                del status[k]
        d["status"] = status
