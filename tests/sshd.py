"""A real OpenSSH server on 127.0.0.1 with its own host key, for the SSH tests."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.net import free_port, stop
from tests.patience import HANG

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    host_key_pub: str
    client_key: Path
    known_hosts: Path
    dir: Path

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key_pub}"


def keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path), "-C", "warroom-test"],
        check=True,
    )


@contextmanager
def running_sshd(directory: Path, passphrase: str = "") -> Iterator[Sshd]:
    if not os.path.exists(SSHD):
        raise RuntimeError("OpenSSH server not installed (apt-get install openssh-server)")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    keygen(directory / "host_key")
    keygen(directory / "client_key", passphrase)
    shutil.copy(directory / "client_key.pub", directory / "authorized_keys")
    port = free_port()
    (directory / "sshd_config").write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {directory / "host_key"}
PidFile {directory / "sshd.pid"}
AuthorizedKeysFile {directory / "authorized_keys"}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 300:30:400
MaxSessions 300
LogLevel ERROR
"""
    )
    host_pub = (directory / "host_key.pub").read_text().split()
    known = directory / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    log = open(directory / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(directory / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + HANG
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {(directory / 'sshd.log').read_text()}")
            time.sleep(0.1)
        yield Sshd(
            port,
            getpass.getuser(),
            f"{host_pub[0]} {host_pub[1]}",
            directory / "client_key",
            known,
            directory,
        )
    finally:
        stop(proc)
        log.close()
