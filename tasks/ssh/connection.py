"""SSH connections: strict host keys (unknown or changed keys are refused, never added), credentials
from settings, and a pool that reuses sessions.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from tasks.ssh.settings import SshSettings
from warroom.inventory import Host
from warroom.redact import register_secret
from warroom.settings import Settings


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
    ssh = settings.of(SshSettings)
    if ssh.key_block:
        from prefect.blocks.system import Secret

        block: Any = Secret.load(ssh.key_block)
        key_text = str(block.get())
    passphrase = ssh.key_passphrase.get_secret_value() if ssh.key_passphrase else None
    password = ssh.password.get_secret_value() if ssh.password else None
    for secret in (key_text, passphrase, password):
        register_secret(secret)
    return Credentials(ssh.user, ssh.key_file, key_text, passphrase, password)


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
        ssh = settings.of(SshSettings)
        return (
            host.user or creds.user or "",
            host.address,
            str(host.port),
            str(ssh.known_hosts),
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
    ssh = settings.of(SshSettings)
    known = ssh.known_hosts.expanduser()
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
        sock = socket.create_connection((host.address, host.port), timeout=ssh.connect_timeout)
        # SSH's many small handshake packets otherwise wait on delayed ACKs (3x slower connects).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key_file = host.key_file or (str(creds.key_file.expanduser()) if creds.key_file else None)
    if creds.key_text:
        pkey: paramiko.PKey | None = _load_key(creds.key_text, creds.passphrase)
    elif key_file:
        pkey = _load_key_file(key_file, os.stat(key_file).st_mtime_ns, creds.passphrase)
    else:
        pkey = None
    timeout = ssh.connect_timeout
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
