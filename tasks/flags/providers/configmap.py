"""flagd (OpenFeature) flag definitions kept in a Kubernetes ConfigMap: the ConfigMap ``project`` (default
``flagd-flags``) in the namespace ``environment``, any of whose data keys may hold a flagd JSON document
(``{"flags": {"NAME": {"state": "ENABLED", "variants": {...}, "defaultVariant": "on"}}}``). Off is
``state: DISABLED``: flagd then answers with the application's own default value; the flag's variants,
default variant and targeting are kept, so on again is exactly as it was. Written through the same client
and kubeconfig as the Kubernetes steps, bound to the resourceVersion it was read at."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef
from tasks.kubernetes.client import MERGE_PATCH, Kube, KubeError, Target, connect
from warroom.settings import Settings

DEFAULT_CONFIGMAP = "flagd-flags"


def configmap_name(ref: FlagRef) -> str:
    return ref.project or DEFAULT_CONFIGMAP


class ConfigMapFlags(FlagProvider):
    name = "configmap"

    def _read(self, kube: Kube, ref: FlagRef) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """The ConfigMap, the data key holding the flag, and that key's document."""
        name = configmap_name(ref)
        target = Target("get", "configmaps", name, ref.environment)
        try:
            cm = kube.call(target, kube.core.read_namespaced_config_map, name, ref.environment)
        except KubeError as exc:
            raise FlagError(f"flagd ConfigMap: {exc}") from None
        known: list[str] = []
        for key, text in sorted((cm.get("data") or {}).items()):
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                continue  # not every key of the ConfigMap is a flag document
            flags = document.get("flags") if isinstance(document, dict) else None
            if not isinstance(flags, dict):
                continue
            if isinstance(flags.get(ref.flag), dict):
                return cm, key, document
            known += sorted(flags)
        raise FlagError(
            f"no flag {ref.flag!r} in ConfigMap {ref.environment}/{name} "
            f"(flags: {', '.join(known) or 'none: no data key holds a flagd JSON document'})"
        )

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        kube = _connect(settings)
        cm, _key, document = self._read(kube, ref)
        flag = document["flags"][ref.flag]
        strategies = [f"defaultVariant {flag.get('defaultVariant')}"]
        strategies += [f"variants: {', '.join(sorted(flag.get('variants') or {}))}"]
        if flag.get("targeting"):
            strategies.append("targeting rules")
        last, who = _last_write(cm)
        return FlagReading(str(flag.get("state", "ENABLED")).upper() == "ENABLED", strategies, last, who)

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        kube = _connect(settings)
        cm, key, document = self._read(kube, ref)
        document["flags"][ref.flag]["state"] = "ENABLED" if enabled else "DISABLED"
        name = configmap_name(ref)
        body = {
            "metadata": {"resourceVersion": cm["metadata"]["resourceVersion"]},
            "data": {key: json.dumps(document, indent=2) + "\n"},
        }
        target = Target("patch", "configmaps", name, ref.environment)
        try:
            kube.call(
                target,
                kube.core.patch_namespaced_config_map,
                name,
                ref.environment,
                body,
                _content_type=MERGE_PATCH,
                field_manager="warroom",
            )
        except KubeError as exc:
            raise FlagError(f"flagd ConfigMap: {exc}") from None


def _connect(settings: Settings) -> Kube:
    try:
        return connect(None, settings)
    except KubeError as exc:
        raise FlagError(f"flagd ConfigMap: {exc}") from None


def _last_write(cm: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """The latest write the API server recorded (managedFields: when, and by which field manager)."""
    entries = [m for m in (cm.get("metadata") or {}).get("managedFields") or [] if m.get("time")]
    if not entries:
        return None, None
    latest = max(entries, key=lambda m: m["time"])
    return datetime.fromisoformat(latest["time"].replace("Z", "+00:00")), latest.get("manager")


PROVIDER = ConfigMapFlags()
