"""$WARROOM_HOME kept private: the directory 0700, what Warroom writes there 0600.

It holds the ledger (raw alert bodies, the timeline), the embedded Prefect database, the receiver's token,
the key that seals approvers' secrets and the approvers' signing keys.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from warroom.settings import Settings


def secure_home(home: Path) -> None:
    """Create ``home`` 0700 and take group and other access away from everything in it."""
    home.mkdir(parents=True, exist_ok=True)
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o700 if path.is_dir() else mode & 0o600
        if mode != wanted:
            path.chmod(wanted)


def private_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to a new file only its owner can read (its folder made 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if replace and path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def prefect_auth(home: Path, configured: str | None) -> str:
    """The ``user:password`` that guards the Prefect server `warroom up` starts: the configured one, else
    one made once in $WARROOM_HOME/prefect-auth (0600). Anyone who reaches an unguarded Prefect API can
    start, pause and resume runs."""
    if configured:
        return configured
    path = home / "prefect-auth"
    if not path.exists():
        import secrets

        private_file(path, f"warroom:{secrets.token_urlsafe(24)}".encode())
    return path.read_text().strip()


def local_prefect_url(settings: Settings) -> str:
    """The API URL of the Prefect server `warroom up` starts."""
    return f"http://{settings.prefect_host}:{settings.prefect_port}/api"


SERVED = "prefect-server"  # in $WARROOM_HOME while `warroom up` runs its Prefect server: its API URL


def record_local_prefect(settings: Settings, url: str | None) -> None:
    """Say (or, with None, unsay) where `warroom up`'s Prefect server answers, for the other terminals."""
    path = Path(settings.home) / SERVED
    if url is None:
        path.unlink(missing_ok=True)
    else:
        private_file(path, url.encode(), replace=True)


def use_local_prefect_auth(settings: Settings) -> None:
    """Point this process at `warroom up`'s Prefect server, with its credentials, when it names no other
    and gave none (the CLI in a second terminal, on whatever port `warroom up` was started with)."""
    home = Path(settings.home)
    served = home / SERVED
    running = served.read_text().strip().rstrip("/") if served.exists() else None
    url = (os.environ.get("PREFECT_API_URL") or "").rstrip("/")
    if not url and running:
        os.environ["PREFECT_API_URL"] = url = running
    path = home / "prefect-auth"
    ours = url in (local_prefect_url(settings), running)
    if url and ours and not os.environ.get("PREFECT_API_AUTH_STRING") and path.exists():
        os.environ["PREFECT_API_AUTH_STRING"] = path.read_text().strip()
