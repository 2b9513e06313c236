"""SSH steps: named catalogue commands on inventory hosts, in parallel, with strict host keys only.

Every command comes from the catalogue (``warroom/commands.py``); its placeholder values are checked and
quoted. One module per question: ``models`` (params and results), ``connection`` (host keys, credentials,
the session pool), ``fanout`` (one command on many hosts), ``steps`` (what a runbook names).
"""

from tasks.ssh.connection import POOL
from tasks.ssh.fanout import run_on_hosts
from tasks.ssh.models import (
    ChangeParams,
    DiskParams,
    FanoutChange,
    FanoutResult,
    HostResult,
    HostStatus,
    JournalParams,
    ReadParams,
    ServiceParams,
)
from tasks.ssh.steps import apply, disk, journal, restart_service, run, service_status

__all__ = [
    "POOL",
    "ChangeParams",
    "DiskParams",
    "FanoutChange",
    "FanoutResult",
    "HostResult",
    "HostStatus",
    "JournalParams",
    "ReadParams",
    "ServiceParams",
    "apply",
    "disk",
    "journal",
    "restart_service",
    "run",
    "run_on_hosts",
    "service_status",
]
