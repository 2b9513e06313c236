"""SSH steps: named catalogue commands on inventory hosts, strict host keys only.

The params and result models are the contract runbooks are validated against; the paramiko
implementation arrives with the SSH issue. Until then the steps are declared, and a run that reaches
one says plainly that it is not available in this build.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from warroom.steps import StepKind, declare

NAME = r"^[A-Za-z0-9_.@-]+$"


class HostSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: str = Field(description="Inventory group, host name or glob pattern")
    sudo: bool = Field(default=False, description="Run through sudo -n")


class RunParams(HostSelection):
    command: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="A name from the command catalogue")
    args: dict[str, str] = Field(default_factory=dict, description="Values for the command's placeholders")


class DiskParams(HostSelection):
    threshold_percent: int = Field(default=90, ge=1, le=100)


class ServiceParams(HostSelection):
    service: str = Field(pattern=NAME, max_length=200)


class JournalParams(ServiceParams):
    since: str = Field(default="1 hour ago", pattern=r"^[A-Za-z0-9 :-]+$")
    lines: int = Field(default=200, ge=1, le=5000)


class HostResult(BaseModel):
    host: str
    status: str = Field(description="ok, failed or unreachable")
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    error: str | None = None


class FanoutResult(BaseModel):
    command: str
    hosts: list[HostResult]
    ok: int
    failed: int
    unreachable: int
    findings: dict[str, object] = Field(default_factory=dict)


for _name, _kind, _params, _summary in (
    ("ssh.run", StepKind.DIAGNOSTIC, RunParams, "Run a read-only catalogue command on the selected hosts."),
    ("ssh.disk", StepKind.DIAGNOSTIC, DiskParams, "Disk usage per filesystem; which are over the threshold."),
    ("ssh.service_status", StepKind.DIAGNOSTIC, ServiceParams, "systemctl status of a service on each host."),
    ("ssh.journal", StepKind.DIAGNOSTIC, JournalParams, "Recent journal lines of a service on each host."),
    ("ssh.apply", StepKind.MITIGATION, RunParams, "Run a catalogue command that changes the hosts."),
    ("ssh.restart_service", StepKind.MITIGATION, ServiceParams, "Restart a systemd service on each host."),
):
    declare(_name, _kind, _params, FanoutResult, _summary)
