"""Params and results of the SSH steps: which hosts, which catalogue command, what each host said."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.ssh.settings import SshSettings
from warroom.commands import Command, CommandError, load_commands
from warroom.settings import get_settings
from warroom.steps import ChangeResult, StepResult

NAME = r"^[A-Za-z0-9@_.:-]{1,200}$"


class HostSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: str = Field(
        description="Inventory group, host name, glob (web*) or key=value; several with commas"
    )
    sudo: bool = Field(default=False, description="Run through sudo -n (never prompts)")


class RunParams(HostSelection):
    command: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="A name from the command catalogue")
    args: dict[str, str] = Field(default_factory=dict, description="Values for the command's placeholders")


def catalogue() -> dict[str, Command]:
    """The command catalogue as configured now (settings): what the SSH steps may run."""
    s = get_settings()
    ssh = s.of(SshSettings)
    return load_commands(ssh.commands_file, ssh.commands)


def _catalogue_entry(name: str, *, changes: bool) -> Command:
    """The catalogue command ``name``, refused when it is of the other kind than the step needs."""
    known = catalogue()
    entry = known.get(name)
    if entry is None:
        raise CommandError(f"unknown command {name!r} (catalogue: {', '.join(sorted(known))})")
    if entry.changes and not changes:
        raise CommandError(f"{name} changes the host: use ssh.apply under mitigations, with approval")
    if changes and not entry.changes:
        raise CommandError(f"{name} only reads: use ssh.run under diagnostics")
    return entry


class ReadParams(RunParams):
    """ssh.run: only catalogue commands that read."""

    @model_validator(mode="after")
    def _read_only(self) -> ReadParams:
        _catalogue_entry(self.command, changes=False)
        return self


class ChangeParams(RunParams):
    """ssh.apply: a catalogue command that changes the host."""

    @model_validator(mode="after")
    def _changes(self) -> ChangeParams:
        _catalogue_entry(self.command, changes=True)
        return self


class DiskParams(HostSelection):
    threshold_percent: int = Field(default=90, ge=1, le=100)


class ServiceParams(HostSelection):
    service: str = Field(pattern=NAME)


class JournalParams(ServiceParams):
    since: str = Field(default="1 hour ago", pattern=r"^[A-Za-z0-9 :-]{1,40}$")
    lines: int = Field(default=200, ge=1, le=5000)


class HostStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # ran, exited non-zero (or the command timed out)
    UNREACHABLE = "unreachable"  # never ran: connection, DNS, host key, authentication


class HostResult(BaseModel):
    host: str
    status: HostStatus
    error_kind: str | None = Field(
        default=None,
        description="host_key_unknown, host_key_changed, auth_failed, dns, refused, connect_timeout, "
        "command_timeout, ssh_error",
    )
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_s: float = 0.0
    error: str | None = None


class FanoutResult(StepResult):
    command: str
    hosts: list[HostResult]
    ok: int
    failed: int
    unreachable: int
    findings: dict[str, Any] = Field(default_factory=dict)


class FanoutChange(FanoutResult, ChangeResult):
    """A changing command on many hosts: applied when it succeeded on every one, partial on some."""

    @classmethod
    def of(cls, result: FanoutResult) -> FanoutChange:
        everywhere = result.ok == len(result.hosts) and result.ok > 0
        some = 0 < result.ok < len(result.hosts)
        error = None if everywhere else ("partial" if some else "failed on every host")
        return cls(
            **result.model_dump(),
            applied=everywhere,
            partial=some,
            error=error,
            way_back="none automatic: see each host's output",
        )


# --- connections ---------------------------------------------------------------------------
