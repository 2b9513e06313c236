"""The SSH command catalogue: the only commands Warroom sends to a shell, by name.

A runbook names a command and gives values for its placeholders. Each value must match its
placeholder's pattern in full and is then ``shlex.quote``d, so alert data can never become shell code.
An entry says whether it only reads (a diagnostic) or changes the host (a mitigation, behind approval).
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Patterns a placeholder value must match in full, by placeholder name; entries may add their own.
PLACEHOLDER_PATTERNS: dict[str, str] = {
    "service": r"[A-Za-z0-9@_.:-]{1,200}",
    "since": r"[A-Za-z0-9 :-]{1,40}",
    "lines": r"[0-9]{1,5}",
    "path": r"/[A-Za-z0-9_./-]{0,250}",
    "pid": r"[0-9]{1,10}",
    "days": r"[0-9]{1,4}",
}


class CommandError(ValueError):
    """An unknown command, a missing or unsafe placeholder value, or a bad catalogue."""


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(description="Shell text with {placeholders}; each value is checked and quoted")
    changes: bool = Field(default=False, description="True when it changes the host (needs approval)")
    patterns: dict[str, str] = Field(default_factory=dict, description="Placeholder patterns of this entry")
    defaults: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @property
    def placeholders(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.run) if name]

    @model_validator(mode="after")
    def _known_patterns(self) -> Command:
        for name in self.placeholders:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise ValueError(f"placeholder {{{name}}} must be a lower_snake_case name")
            if name not in self.patterns and name not in PLACEHOLDER_PATTERNS:
                raise ValueError(f"placeholder {{{name}}} has no pattern: add one under patterns")
        return self

    def render(self, args: Mapping[str, str]) -> str:
        """The command line with every placeholder checked against its pattern and shell-quoted."""
        values = {**self.defaults, **args}
        unknown = set(values) - set(self.placeholders)
        if unknown:
            raise CommandError(
                f"unknown argument(s) {sorted(unknown)}; this command takes {self.placeholders}"
            )
        quoted = {}
        for name in self.placeholders:
            if name not in values:
                raise CommandError(f"missing value for {{{name}}}")
            value = str(values[name])
            pattern = self.patterns.get(name, PLACEHOLDER_PATTERNS.get(name))
            if pattern is None or not re.fullmatch(pattern, value):
                raise CommandError(f"refused value for {{{name}}}: {value!r} does not match {pattern!r}")
            quoted[name] = shlex.quote(value)
        return self.run.format_map(quoted)


BUILTIN: dict[str, Command] = {
    "disk_usage": Command(
        run="df -P -k -x tmpfs -x devtmpfs -x overlay 2>/dev/null || df -P -k",
        description="Filesystem usage in 1K blocks (POSIX format)",
    ),
    "top_processes": Command(run="ps aux --sort=-%cpu | head -20", description="Busiest processes"),
    "memory": Command(run="free -m", description="Memory in MiB"),
    "uptime": Command(run="uptime", description="Load averages"),
    "service_status": Command(run="systemctl status {service} --no-pager", description="A unit's status"),
    "journal": Command(
        run="journalctl -u {service} --since {since} --no-pager -n {lines}",
        defaults={"since": "1 hour ago", "lines": "200"},
        description="A unit's recent journal",
    ),
    "largest_files": Command(
        run="du -xak {path} 2>/dev/null | sort -rn | head -20",
        defaults={"path": "/var"},
        description="Largest files and directories under a path",
    ),
    "cleanup_tmp": Command(
        run="find /tmp /var/tmp -xdev -type f -mtime +{days} -print -delete | wc -l",
        defaults={"days": "1"},
        changes=True,
        description="Delete files older than N days from /tmp and /var/tmp; prints how many",
    ),
    "restart_service": Command(run="systemctl restart {service}", changes=True, description="Restart a unit"),
}


def load_commands(
    path: Path | None = None, extra: Mapping[str, Mapping[str, object]] | None = None
) -> dict[str, Command]:
    """The built-in commands, with a site's YAML file and then settings laid over them."""
    catalogue = dict(BUILTIN)
    layers: list[tuple[str, Mapping[str, object]]] = []
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CommandError(f"cannot read command catalogue {path}: {exc}") from None
        layers.append((str(path), data))
    if extra:
        layers.append(("settings", extra))
    for source, layer in layers:
        if not isinstance(layer, Mapping):
            raise CommandError(f"{source}: a catalogue maps names to commands")
        for name, entry in layer.items():
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(name)):
                raise CommandError(f"{source}: command name {name!r} must be lower_snake_case")
            try:
                catalogue[str(name)] = Command.model_validate(
                    {"run": entry} if isinstance(entry, str) else entry
                )
            except ValidationError as exc:
                raise CommandError(f"{source}: {name}: {exc.errors()[0]['msg']}") from None
    return catalogue
