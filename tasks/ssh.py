"""SSH steps: named catalogue commands on inventory hosts, in parallel, with strict host keys only.

Every command comes from the catalogue (``warroom/commands.py``); its placeholder values are checked and
quoted. Unknown or changed host keys are refused, never added. One dead host never holds up the others.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import shlex
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import paramiko
from prefect import task
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warroom.commands import Command, CommandError, load_commands
from warroom.inventory import Host, InventoryError, load_inventory
from warroom.redact import redact_text, register_secret
from warroom.settings import Settings, get_settings
from warroom.steps import ChangeResult, StepKind, StepResult, step

NAME = r"^[A-Za-z0-9@_.:-]{1,200}$"


# --- params and results ---------------------------------------------------------------------------


class HostSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: str = Field(
        description="Inventory group, host name, glob (web*) or key=value; several with commas"
    )
    sudo: bool = Field(default=False, description="Run through sudo -n (never prompts)")


class RunParams(HostSelection):
    command: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="A name from the command catalogue")
    args: dict[str, str] = Field(default_factory=dict, description="Values for the command's placeholders")


def _catalogue_entry(name: str, *, changes: bool) -> Command:
    """The catalogue command ``name``, refused when it is of the other kind than the step needs."""
    catalogue = _catalogue()
    entry = catalogue.get(name)
    if entry is None:
        raise CommandError(f"unknown command {name!r} (catalogue: {', '.join(sorted(catalogue))})")
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


class HostKeyRefused(paramiko.SSHException):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """Strict: a host that is not in known_hosts is refused, with the key it offered named."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyRefused(
            "host_key_unknown",
            f"{hostname} is not in known_hosts (it offered {key.get_name()} {fingerprint(key)}); refused. "
            "Verify the fingerprint out of band and add it to known_hosts.",
        )


@dataclass(frozen=True)
class Credentials:
    user: str | None
    key_file: Path | None
    key_text: str | None
    passphrase: str | None
    password: str | None


def _credentials(settings: Settings) -> Credentials:
    key_text = None
    if settings.ssh_key_block:
        from prefect.blocks.system import Secret

        block: Any = Secret.load(settings.ssh_key_block)
        key_text = str(block.get())
    passphrase = settings.ssh_key_passphrase.get_secret_value() if settings.ssh_key_passphrase else None
    password = settings.ssh_password.get_secret_value() if settings.ssh_password else None
    for secret in (key_text, passphrase, password):
        register_secret(secret)
    return Credentials(settings.ssh_user, settings.ssh_key_file, key_text, passphrase, password)


def _load_key(text: str, passphrase: str | None) -> paramiko.PKey:
    import io

    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException:
            continue
    raise paramiko.SSHException("the private key could not be read (wrong passphrase, or not a key)")


@functools.lru_cache(maxsize=32)
def _load_key_file(path: str, mtime_ns: int, passphrase: str | None) -> paramiko.PKey:
    """A private key file, decrypted once (its KDF is slow on purpose) and not again until it changes."""
    try:
        return _load_key(Path(path).read_text(), passphrase)
    except OSError as exc:
        raise paramiko.SSHException(f"cannot read the private key file {path}: {exc.strerror}") from None


class ConnectionPool:
    """SSH connections kept per (user, address, port), so the steps of a run reuse them."""

    def __init__(self, idle_seconds: float = 300) -> None:
        self._clients: dict[tuple[str, ...], tuple[paramiko.SSHClient, float]] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._lock = threading.Lock()
        self.idle_seconds = idle_seconds
        self.opened = 0

    def _key_lock(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    @staticmethod
    def _key(host: Host, settings: Settings, creds: Credentials) -> tuple[str, ...]:
        # Who, where, and what we trust: a connection is only reused under the same host keys and identity.
        return (
            host.user or creds.user or "",
            host.address,
            str(host.port),
            str(settings.ssh_known_hosts),
            host.key_file or str(creds.key_file or ""),
        )

    def get(self, host: Host, settings: Settings, creds: Credentials) -> paramiko.SSHClient:
        user = host.user or creds.user
        key = self._key(host, settings, creds)
        with self._key_lock(key):
            with self._lock:
                cached = self._clients.get(key)
            if cached is not None:
                client, _ = cached
                transport = client.get_transport()
                if transport is not None and transport.is_active():
                    with self._lock:
                        self._clients[key] = (client, time.monotonic())
                    return client
                client.close()
            client = _connect(host, user, settings, creds)
            with self._lock:
                self._clients[key] = (client, time.monotonic())
                self.opened += 1
            return client

    def drop(self, host: Host, settings: Settings, creds: Credentials) -> None:
        key = self._key(host, settings, creds)
        with self._lock:
            cached = self._clients.pop(key, None)
        if cached:
            cached[0].close()

    def close_idle(self) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        with self._lock:
            stale = [k for k, (_, used) in self._clients.items() if used < cutoff]
            clients = [self._clients.pop(k)[0] for k in stale]
        for c in clients:
            c.close()

    def close(self) -> None:
        with self._lock:
            clients = [c for c, _ in self._clients.values()]
            self._clients.clear()
        for c in clients:
            c.close()


POOL = ConnectionPool()


def _connect(host: Host, user: str | None, settings: Settings, creds: Credentials) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    known = settings.ssh_known_hosts.expanduser()
    if known.exists():
        client.load_host_keys(str(known))
    client.set_missing_host_key_policy(_RejectUnknown())
    sock: Any = None
    if host.proxy_jump:
        jump_host, _, jump_port = host.proxy_jump.partition(":")
        jump_user, _, jump_addr = jump_host.rpartition("@")
        jump = POOL.get(
            Host(name=jump_host, address=jump_addr, port=int(jump_port or 22), user=jump_user or user),
            settings,
            creds,
        )
        transport = jump.get_transport()
        if transport is None:
            raise paramiko.SSHException(f"jump host {host.proxy_jump} is not connected")
        sock = transport.open_channel("direct-tcpip", (host.address, host.port), ("127.0.0.1", 0))
    else:
        sock = socket.create_connection((host.address, host.port), timeout=settings.ssh_connect_timeout)
        # SSH's many small handshake packets otherwise wait on delayed ACKs (3x slower connects).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key_file = host.key_file or (str(creds.key_file.expanduser()) if creds.key_file else None)
    if creds.key_text:
        pkey: paramiko.PKey | None = _load_key(creds.key_text, creds.passphrase)
    elif key_file:
        pkey = _load_key_file(key_file, os.stat(key_file).st_mtime_ns, creds.passphrase)
    else:
        pkey = None
    timeout = settings.ssh_connect_timeout
    try:
        client.connect(
            host.address,
            port=host.port,
            username=user,
            pkey=pkey,
            password=creds.password,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
            sock=sock,
        )
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyRefused(
            "host_key_changed",
            f"host key of {host.name} ({host.address}:{host.port}) CHANGED: known_hosts has "
            f"{fingerprint(exc.expected_key)}, the host offered {fingerprint(exc.key)}; refused. "
            "This may be a man-in-the-middle; verify before updating known_hosts.",
        ) from None
    except (paramiko.AuthenticationException, HostKeyRefused):
        client.close()
        raise
    except paramiko.SSHException as exc:
        transport = client.get_transport()
        client.close()
        if transport is None or not transport.remote_version:
            # paramiko reports a peer that never sends its banner as a vague session error.
            where = f"{host.address}:{host.port}"
            raise TimeoutError(f"no SSH banner from {where} within {timeout:.0f}s") from exc
        raise
    except BaseException:
        client.close()
        raise
    return client


# --- running ---------------------------------------------------------------------------


def _catalogue() -> dict[str, Command]:
    s = get_settings()
    return load_commands(s.ssh_commands_file, s.ssh_commands)


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
    catalogue = load_commands(settings.ssh_commands_file, settings.ssh_commands)
    entry = catalogue.get(command_name)
    if entry is None:
        raise CommandError(f"unknown command {command_name!r} (catalogue: {', '.join(sorted(catalogue))})")
    if entry.changes and not allow_changes:
        raise CommandError(f"{command_name} changes the host and is only run as an approved mitigation")
    line = entry.render(args)
    if sudo:
        line = f"sudo -n sh -c {shlex.quote(line)}"
    inventory = load_inventory(settings.ssh_inventory, settings.ssh_config)
    hosts = inventory.select(selection)
    creds = _credentials(settings)
    limit = settings.ssh_output_limit

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
            code, out, err, timed_out = _exec(client, line, settings.ssh_command_timeout, limit)
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
            error=f"command timed out after {settings.ssh_command_timeout:.0f}s" if timed_out else None,
            exit_code=code,
            stdout=redact_text(stdout),
            stderr=redact_text(stderr),
            truncated=cut_out or cut_err,
            duration_s=round(time.monotonic() - started, 3),
        )

    with ThreadPoolExecutor(max_workers=max(1, min(settings.ssh_concurrency, len(hosts)))) as workers:
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


# --- the steps ---------------------------------------------------------------------------


def _fanout(selection: str, command: str, args: dict[str, str], *, sudo: bool, changes: bool) -> FanoutResult:
    """run_on_hosts for a step: refusals (bad selection, unsafe value) name the command they were for."""
    try:
        return run_on_hosts(selection, command, args, sudo=sudo, allow_changes=changes)
    except (CommandError, InventoryError) as exc:
        raise ValueError(f"{command}: {exc}") from None


@step("ssh.run", StepKind.DIAGNOSTIC)
@task(name="ssh.run")
def run(params: ReadParams) -> FanoutResult:
    """Run a read-only catalogue command on the selected hosts. Production impact: reads only."""
    return _fanout(params.hosts, params.command, params.args, sudo=params.sudo, changes=False)


@step("ssh.apply", StepKind.MITIGATION)
@task(name="ssh.apply")
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
@task(name="ssh.disk")
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
@task(name="ssh.service_status")
def service_status(params: ServiceParams) -> FanoutResult:
    """systemctl status of a unit on each host. Reads only."""
    return _fanout(
        params.hosts, "service_status", {"service": params.service}, sudo=params.sudo, changes=False
    )


@step("ssh.journal", StepKind.DIAGNOSTIC)
@task(name="ssh.journal")
def journal(params: JournalParams) -> FanoutResult:
    """Recent journal lines of a unit on each host. Reads only."""
    args = {"service": params.service, "since": params.since, "lines": str(params.lines)}
    return _fanout(params.hosts, "journal", args, sudo=params.sudo, changes=False)


@step("ssh.restart_service", StepKind.MITIGATION)
@task(name="ssh.restart_service")
def restart_service(params: ServiceParams) -> FanoutChange:
    """Restart a systemd unit on each selected host (only after approval). Interrupts the service."""
    return FanoutChange.of(
        _fanout(params.hosts, "restart_service", {"service": params.service}, sudo=params.sudo, changes=True)
    )
