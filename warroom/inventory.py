"""Hosts the SSH steps may reach: an Ansible YAML inventory plus ~/.ssh/config, and host selection.

Selection (the ``hosts`` of an SSH step) is a comma- or colon-separated list of terms: a group, a host
name, a glob over host names (``web*``), or a host variable match (``role=api``). Terms add up; a term
may only use the characters of inventory names, so an alert label cannot smuggle anything else in.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import yaml

TERM = re.compile(r"^(?:[A-Za-z0-9_.*?\[\]-]+|[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.-]+)$")


class InventoryError(ValueError):
    """An inventory that cannot be read, or a selection that is invalid or matches nothing."""


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    proxy_jump: str | None = None
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    hosts: dict[str, Host]
    groups: dict[str, set[str]]

    def select(self, selection: str) -> list[Host]:
        """The hosts a selection names, in inventory order; a clear error for bad or empty selections."""
        terms = [t.strip() for t in re.split(r"[,:]", selection) if t.strip()]
        if not terms:
            raise InventoryError("empty host selection")
        chosen: set[str] = set()
        for term in terms:
            if not TERM.match(term):
                raise InventoryError(
                    f"invalid host selection term {term!r}: use a group, a host, a glob (web*) or key=value"
                )
            if "=" in term:
                key, value = term.split("=", 1)
                found = {h.name for h in self.hosts.values() if str(h.vars.get(key)) == value}
            elif term in self.groups:
                found = set(self.groups[term])
            elif term in self.hosts:
                found = {term}
            else:
                found = set(fnmatch.filter(self.hosts, term))
            if not found:
                raise InventoryError(f"no host or group matches {term!r}")
            chosen |= found
        return [h for name, h in self.hosts.items() if name in chosen]


def _walk(
    node: Mapping[str, Any] | None,
    group: str,
    inherited: dict[str, Any],
    out_hosts: dict[str, dict[str, Any]],
    host_groups: dict[str, list[str]],
    groups: dict[str, set[str]],
) -> set[str]:
    node = node or {}
    if not isinstance(node, Mapping):
        raise InventoryError(f"group {group!r} must be a mapping (hosts, vars, children)")
    variables = {**inherited, **(node.get("vars") or {})}
    members: set[str] = set()
    for name, hvars in (node.get("hosts") or {}).items():
        name = str(name)
        merged = {**variables, **out_hosts.get(name, {}), **(hvars or {})}
        out_hosts[name] = merged
        host_groups.setdefault(name, []).append(group)
        members.add(name)
    for child, child_node in (node.get("children") or {}).items():
        members |= _walk(child_node, str(child), variables, out_hosts, host_groups, groups)
    groups.setdefault(group, set()).update(members)
    return members


def load_inventory(path: Path | None, ssh_config: Path | None = None) -> Inventory:
    """Read an Ansible YAML inventory; resolve each host through ~/.ssh/config where it says more."""
    config = paramiko.SSHConfig()
    if ssh_config is not None and ssh_config.exists():
        config = paramiko.SSHConfig.from_path(str(ssh_config))
    raw_hosts: dict[str, dict[str, Any]] = {}
    host_groups: dict[str, list[str]] = {}
    groups: dict[str, set[str]] = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InventoryError(f"cannot read inventory {path}: {exc}") from None
        if not isinstance(data, Mapping):
            raise InventoryError(f"{path}: an inventory is a mapping of groups (all: ...)")
        for top, node in data.items():
            _walk(node, str(top), {}, raw_hosts, host_groups, groups)
    hosts: dict[str, Host] = {}
    for name, hvars in raw_hosts.items():
        resolved = config.lookup(name)
        identity = resolved.get("identityfile")
        hosts[name] = Host(
            name=name,
            address=str(hvars.get("ansible_host") or resolved.get("hostname", name)),
            port=int(hvars.get("ansible_port") or resolved.get("port") or 22),
            user=hvars.get("ansible_user") or resolved.get("user"),
            key_file=hvars.get("ansible_ssh_private_key_file") or (identity[0] if identity else None),
            proxy_jump=hvars.get("ansible_ssh_proxy_jump") or resolved.get("proxyjump"),
            groups=tuple(g for g in host_groups.get(name, []) if g != "all"),
            vars={k: v for k, v in hvars.items() if not k.startswith("ansible_")},
        )
    groups.setdefault("all", set()).update(hosts)
    return Inventory(hosts, groups)
