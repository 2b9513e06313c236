"""The SSH steps a runbook names: ``ssh.run``/``ssh.apply`` (catalogue commands), disk, service
status, journal, restart.
"""

from __future__ import annotations

from typing import Any

from tasks.ssh.fanout import _fanout
from tasks.ssh.models import (
    ChangeParams,
    DiskParams,
    FanoutChange,
    FanoutResult,
    HostStatus,
    JournalParams,
    ReadParams,
    ServiceParams,
)
from tasks.step import step
from warroom.steps import StepKind


@step("ssh.run", StepKind.DIAGNOSTIC)
def run(params: ReadParams) -> FanoutResult:
    """Run a read-only catalogue command on the selected hosts. Production impact: reads only."""
    return _fanout(params.hosts, params.command, params.args, sudo=params.sudo, changes=False)


@step("ssh.apply", StepKind.MITIGATION)
def apply(params: ChangeParams) -> FanoutChange:
    """Run a catalogue command that CHANGES the selected hosts (only after approval)."""
    return FanoutChange.of(_fanout(params.hosts, params.command, params.args, sudo=params.sudo, changes=True))


def parse_df(text: str) -> list[dict[str, Any]]:
    """Rows of POSIX ``df -P -k`` output."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[4].endswith("%"):
            continue
        try:
            rows.append(
                {
                    "filesystem": parts[0],
                    "size_kb": int(parts[1]),
                    "used_kb": int(parts[2]),
                    "available_kb": int(parts[3]),
                    "percent": int(parts[4].rstrip("%")),
                    "mount": " ".join(parts[5:]),
                }
            )
        except ValueError:
            continue
    return rows


@step("ssh.disk", StepKind.DIAGNOSTIC)
def disk(params: DiskParams) -> FanoutResult:
    """Filesystem usage on each host; findings list the filesystems over the threshold. Reads only."""
    result = _fanout(params.hosts, "disk_usage", {}, sudo=params.sudo, changes=False)
    over = []
    usage: dict[str, list[dict[str, Any]]] = {}
    for h in result.hosts:
        if h.status is HostStatus.OK:
            usage[h.host] = parse_df(h.stdout)
            over += [
                {"host": h.host, "mount": r["mount"], "percent": r["percent"]}
                for r in usage[h.host]
                if r["percent"] >= params.threshold_percent
            ]
    worst = max((o["percent"] for o in over), default=None)
    summary = result.summary + (
        f"; {len(over)} filesystem(s) at or over {params.threshold_percent}% (worst {worst}%)"
        if over
        else f"; none at or over {params.threshold_percent}%"
    )
    return result.model_copy(
        update={"findings": {"over_threshold": over, "usage": usage}, "summary": summary}
    )


@step("ssh.service_status", StepKind.DIAGNOSTIC)
def service_status(params: ServiceParams) -> FanoutResult:
    """systemctl status of a unit on each host. Reads only."""
    return _fanout(
        params.hosts, "service_status", {"service": params.service}, sudo=params.sudo, changes=False
    )


@step("ssh.journal", StepKind.DIAGNOSTIC)
def journal(params: JournalParams) -> FanoutResult:
    """Recent journal lines of a unit on each host. Reads only."""
    args = {"service": params.service, "since": params.since, "lines": str(params.lines)}
    return _fanout(params.hosts, "journal", args, sudo=params.sudo, changes=False)


@step("ssh.restart_service", StepKind.MITIGATION)
def restart_service(params: ServiceParams) -> FanoutChange:
    """Restart a systemd unit on each selected host (only after approval). Interrupts the service."""
    return FanoutChange.of(
        _fanout(params.hosts, "restart_service", {"service": params.service}, sudo=params.sudo, changes=True)
    )
