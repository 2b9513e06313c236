"""One catalogue command on many hosts in parallel: each host's status, exit code and output tail.

One dead host never holds up the others.
"""

from __future__ import annotations

import shlex
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko

from tasks.ssh.connection import POOL, ConnectionPool, HostKeyRefused, _credentials
from tasks.ssh.models import FanoutResult, HostResult, HostStatus
from tasks.ssh.settings import SshSettings
from warroom.commands import CommandError, load_commands
from warroom.inventory import Host, InventoryError, load_inventory
from warroom.redact import redact_text
from warroom.settings import Settings, get_settings


def _classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, HostKeyRefused):
        return exc.kind, str(exc)
    if isinstance(exc, paramiko.AuthenticationException):
        return "auth_failed", f"authentication failed: {exc}"
    if isinstance(exc, socket.gaierror):
        return "dns", f"DNS lookup failed: {exc}"
    if isinstance(exc, ConnectionRefusedError | paramiko.ssh_exception.NoValidConnectionsError):
        return "refused", f"connection refused: {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "connect_timeout", f"timed out connecting: {exc}" if str(exc) else "timed out connecting"
    if isinstance(exc, paramiko.SSHException):
        return "ssh_error", f"SSH error: {exc}"
    if isinstance(exc, OSError):
        return "unreachable", f"{type(exc).__name__}: {exc}"
    return "ssh_error", f"{type(exc).__name__}: {exc}"


def _tail(data: bytes, limit: int) -> tuple[str, bool]:
    if len(data) <= limit:
        return data.decode("utf-8", "replace"), False
    return data[-limit:].decode("utf-8", "replace"), True


def _exec(
    client: paramiko.SSHClient, line: str, timeout: float, limit: int
) -> tuple[int | None, bytes, bytes, bool]:
    transport = client.get_transport()
    if transport is None:
        raise paramiko.SSHException("not connected")
    channel = transport.open_session(timeout=timeout)
    try:
        channel.settimeout(0.5)
        channel.exec_command(line)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            if channel.recv_ready():
                out += channel.recv(65536)
                del out[: max(0, len(out) - 2 * limit)]
            if channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                del err[: max(0, len(err) - 2 * limit)]
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                return channel.recv_exit_status(), bytes(out), bytes(err), False
            if time.monotonic() > deadline:
                return None, bytes(out), bytes(err), True
            if not (channel.recv_ready() or channel.recv_stderr_ready()):
                time.sleep(0.01)
    finally:
        channel.close()


def run_on_hosts(
    selection: str,
    command_name: str,
    args: dict[str, str],
    *,
    sudo: bool = False,
    allow_changes: bool,
    settings: Settings | None = None,
    pool: ConnectionPool | None = None,
) -> FanoutResult:
    """Run one catalogue command on every selected host, at most ``ssh_concurrency`` at a time."""
    settings = settings or get_settings()
    pool = pool or POOL
    ssh = settings.of(SshSettings)
    known = load_commands(ssh.commands_file, ssh.commands)
    entry = known.get(command_name)
    if entry is None:
        raise CommandError(f"unknown command {command_name!r} (catalogue: {', '.join(sorted(known))})")
    if entry.changes and not allow_changes:
        raise CommandError(f"{command_name} changes the host and is only run as an approved mitigation")
    line = entry.render(args)
    if sudo:
        line = f"sudo -n sh -c {shlex.quote(line)}"
    inventory = load_inventory(ssh.inventory, ssh.config)
    if not inventory.hosts:
        raise InventoryError(
            f"no SSH inventory is configured, so no host is known as {selection!r}: set "
            "WARROOM_SSH_INVENTORY to an Ansible YAML inventory"
            if ssh.inventory is None
            else f"the SSH inventory {ssh.inventory} names no hosts, so none is known as {selection!r}"
        )
    hosts = inventory.select(selection)
    creds = _credentials(settings)
    limit = ssh.output_limit

    def one(host: Host) -> HostResult:
        started = time.monotonic()

        def unreachable(exc: BaseException) -> HostResult:
            kind, message = _classify(exc)
            return HostResult(
                host=host.name,
                status=HostStatus.UNREACHABLE,
                error_kind=kind,
                error=redact_text(message),
                duration_s=round(time.monotonic() - started, 3),
            )

        try:
            client = pool.get(host, settings, creds)
        except BaseException as exc:
            return unreachable(exc)
        try:
            code, out, err, timed_out = _exec(client, line, ssh.command_timeout, limit)
        except (paramiko.SSHException, OSError) as exc:
            pool.drop(host, settings, creds)
            return unreachable(exc)
        stdout, cut_out = _tail(out, limit)
        stderr, cut_err = _tail(err, limit)
        status = HostStatus.OK if code == 0 and not timed_out else HostStatus.FAILED
        return HostResult(
            host=host.name,
            status=status,
            error_kind="command_timeout" if timed_out else None,
            error=f"command timed out after {ssh.command_timeout:.0f}s" if timed_out else None,
            exit_code=code,
            stdout=redact_text(stdout),
            stderr=redact_text(stderr),
            truncated=cut_out or cut_err,
            duration_s=round(time.monotonic() - started, 3),
        )

    with ThreadPoolExecutor(max_workers=max(1, min(ssh.concurrency, len(hosts)))) as workers:
        results = list(workers.map(one, hosts))
    pool.close_idle()
    counts = {o: sum(r.status is o for r in results) for o in HostStatus}
    return FanoutResult(
        command=command_name,
        hosts=results,
        ok=counts[HostStatus.OK],
        failed=counts[HostStatus.FAILED],
        unreachable=counts[HostStatus.UNREACHABLE],
        summary=f"{command_name} on {len(results)} host(s): {counts[HostStatus.OK]} ok, "
        f"{counts[HostStatus.FAILED]} failed, {counts[HostStatus.UNREACHABLE]} unreachable",
    )


def _fanout(selection: str, command: str, args: dict[str, str], *, sudo: bool, changes: bool) -> FanoutResult:
    """run_on_hosts for a step: refusals (bad selection, unsafe value) name the command they were for."""
    try:
        return run_on_hosts(selection, command, args, sudo=sudo, allow_changes=changes)
    except (CommandError, InventoryError) as exc:
        raise ValueError(f"{command}: {exc}") from None
