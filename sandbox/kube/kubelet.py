"""The kubelet stand-in: pods made for a ReplicaSet, given a state by their image (healthy, crashloop,
imagepull, oom, pending), the events a kubelet records, and container logs."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.kube.api import BEHAVIOURS, ApiError
from sandbox.kube.defaults import _default_log, _safe_hash, _ts
from sandbox.kube.seeding import SeededStore


class Kubelet(SeededStore):
    """Pods as the kubelet runs them, on top of the store."""

    def _image_state(self, template: dict[str, Any]) -> str:
        states = [self.behaviour.get(c["image"], "healthy") for c in template["spec"]["containers"]]
        return max(states, key=BEHAVIOURS.index)

    def _new_pod(self, rs: dict[str, Any]) -> dict[str, Any]:
        ns = rs["metadata"]["namespace"]
        self._pods += 1
        template = rs["spec"]["template"]
        state = self._image_state(template)
        name = f"{rs['metadata']['name']}-{_safe_hash([rs['metadata']['name'], self._pods], 5)}"
        node = None if state == "pending" else self.nodes[self._pods % len(self.nodes)]
        spec = copy.deepcopy(template["spec"])
        if node:
            spec["nodeName"] = node
        pod = self._stamp(
            "pods",
            ns,
            {
                "metadata": {
                    "name": name,
                    "generateName": rs["metadata"]["name"] + "-",
                    "labels": copy.deepcopy(template["metadata"].get("labels") or {}),
                    "annotations": copy.deepcopy(template["metadata"].get("annotations") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": spec,
                "status": self._pod_status(spec, state),
            },
        )
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        stored = self._store("pods", pod)
        self._pod_events(stored, state)
        return self.objects["pods"][(ns, name)]

    def _pod_status(self, spec: dict[str, Any], state: str) -> dict[str, Any]:
        start = _ts(self.now)
        statuses = []
        for c in spec["containers"]:
            cs: dict[str, Any] = {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": state == "healthy",
                "started": state == "healthy",
                "restartCount": 0,
            }
            if state == "healthy":
                cs["state"] = {"running": {"startedAt": start}}
                cs["imageID"] = f"docker.io/library/{c['image']}@sha256:{_safe_hash(c['image'], 16)}"
            elif state in ("crashloop", "oom"):
                reason, code = ("OOMKilled", 137) if state == "oom" else ("Error", 1)
                cs["restartCount"] = 5 if state == "crashloop" else 3
                cs["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 5m0s restarting failed container={c['name']}",
                    }
                }
                cs["lastState"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "startedAt": start,
                        "finishedAt": start,
                    }
                }
            elif state == "imagepull":
                cs["state"] = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{c["image"]}"',
                    }
                }
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        if state == "pending":
            return {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available: 3 Insufficient cpu.",
                        "lastTransitionTime": start,
                    }
                ],
            }
        ready = "True" if state == "healthy" else "False"
        return {
            "phase": "Pending" if state == "imagepull" else "Running",
            "qosClass": "BestEffort",
            "startTime": start,
            "hostIP": "127.0.0.1",
            "podIP": f"127.0.1.{self._pods % 250 + 1}",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": start},
                {"type": "Ready", "status": ready, "lastTransitionTime": start},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": start},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": start},
            ],
            "containerStatuses": statuses,
        }

    def _pod_events(self, pod: dict[str, Any], state: str) -> None:
        image = pod["spec"]["containers"][0]["image"]
        container = pod["spec"]["containers"][0]["name"]
        if state == "crashloop" or state == "oom":
            self._event(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {container} in pod "
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                count=5,
            )
        elif state == "imagepull":
            self._event(
                pod,
                "Warning",
                "Failed",
                f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
                f'unpack image "docker.io/library/{image}": not found',
            )
            self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", count=4)
        elif state == "pending":
            self._event(
                pod,
                "Warning",
                "FailedScheduling",
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                "3 No preemption victims found for incoming pod.",
                source="default-scheduler",
            )
        else:
            self._event(pod, "Normal", "Started", f"Started container {container}")

    def _event(
        self,
        obj: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        *,
        count: int = 1,
        source: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        component = source or {
            "Deployment": "deployment-controller",
            "ReplicaSet": "replicaset-controller",
        }.get(obj["kind"], "kubelet")
        ev = self._stamp(
            "events",
            meta["namespace"],
            {
                "metadata": {"name": f"{meta['name']}.{_safe_hash([meta['uid'], reason, self._uid], 16)}"},
                "involvedObject": {
                    "kind": obj["kind"],
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": obj["apiVersion"],
                },
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "firstTimestamp": _ts(self.now),
                "lastTimestamp": _ts(self.now),
                "count": count,
                "type": type_,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": "",
            },
        )
        self._store("events", ev)

    # --- logs ---

    def pod_log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        pod = self.get("pods", namespace, name)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: {containers}",
            )
        if container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        status = (
            next(s for s in pod["status"].get("containerStatuses", []) if s["name"] == container)
            if pod["status"].get("containerStatuses")
            else None
        )
        previous = query.get("previous") == "true"
        if previous and (status is None or status["restartCount"] == 0):
            raise ApiError(
                400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found'
            )
        if not previous and (
            status is None or ("waiting" in status["state"] and status["restartCount"] == 0)
        ):
            reason = status["state"]["waiting"]["reason"] if status else "ContainerCreating"
            raise ApiError(
                400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        state = self.behaviour.get(spec["image"], "healthy")
        lines = self.logs.get(spec["image"]) or _default_log(spec["image"], state)
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) > 0 else []
        text = "".join(line + "\n" for line in lines)
        if "limitBytes" in query:
            text = text.encode()[: int(query["limitBytes"])].decode(errors="ignore")
        return text
