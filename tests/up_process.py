"""`warroom` as processes, the way an engineer runs it: `warroom up` in one terminal, commands in another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.net import free_port
from tests.patience import COMMAND_TIMEOUT
from tests.prefect_db import seed_prefect_home


def up_env(tmp_path: Path, port: int) -> dict[str, str]:
    """The environment of `warroom up` in ``tmp_path``; its Prefect home gets a migrated database."""
    seed_prefect_home(tmp_path / "home" / "prefect")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
    env.update(
        WARROOM_HOME=str(tmp_path / "home"),
        WARROOM_KEY_FILE=str(tmp_path / "this-machine" / "key.pem"),  # no signing key unless made
        WARROOM_RUNBOOKS_DIR=str(tmp_path / "runbooks"),
        WARROOM_ONCALL_DIR=str(tmp_path / "oncall"),
        WARROOM_STEP_MODULES='["tests.plugin_steps"]',
        WARROOM_APPROVER_GROUPS='{"sre": ["alice", "dave"]}',
        WARROOM_PREFECT_PORT=str(port),
        WARROOM_RECEIVER_PORT=str(free_port()),
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        WARROOM_PREFECT_DATABASE="sqlite",
        COLUMNS="200",
    )
    return env


def prefect_login(env: dict[str, str]) -> tuple[str, str] | None:
    """The login `warroom up` made for its Prefect server, once it has made it."""
    path = Path(env["WARROOM_HOME"]) / "prefect-auth"
    if not path.exists():
        return None
    user, _, password = path.read_text().strip().partition(":")
    return user, password


def wait_for_login(
    env: dict[str, str], up: subprocess.Popen[Any], log: Path, timeout: float = 180
) -> tuple[str, str]:
    """The login `warroom up` makes for its Prefect server, once made; fails with its output if it died."""
    deadline = time.monotonic() + timeout
    while (login := prefect_login(env)) is None:
        assert up.poll() is None, f"warroom up exited {up.returncode}: {log.read_text()}"
        assert time.monotonic() < deadline, f"warroom up made no Prefect login in {timeout:.0f} s"
        time.sleep(0.5)
    return login


def warroom(
    *args: str, env: dict[str, str], output: Path | None = None, **kw: object
) -> subprocess.Popen[str]:
    """`warroom ARGS` running; its output piped to the caller, or to ``output`` for a long-running process
    whose pipe nobody drains (a full pipe would stall it)."""
    stdout: Any = subprocess.PIPE if output is None else output.open("a")
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        **kw,  # type: ignore[call-overload]
    )


def warroom_done(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `warroom` command run to completion, as an engineer types it in another terminal.

    The timeout only guards against a hang: `warroom deploy` takes 6 s on a quiet machine and went past 60 s
    with a second suite on the same two cores. Unbuffered, so a command that does hang shows how far it got.
    """
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def wait_until_served(
    proc: subprocess.Popen[Any], env: dict[str, str], api: str, log: Path, deployment: str
) -> None:
    """Until `warroom up` (``proc``, writing to ``log``) serves ``deployment`` on its Prefect server
    (``api``); fails with its output if it dies or hangs."""
    import httpx

    from tests.patience import HANG

    deadline = time.monotonic() + HANG
    while True:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            found = httpx.post(
                f"{api}/deployments/filter", json={}, timeout=2, auth=prefect_login(env)
            ).json()
            if any(d["name"] == deployment for d in found):
                return
        except (httpx.HTTPError, ValueError):
            pass
        assert time.monotonic() < deadline, (
            f"warroom up did not serve the runbooks: {log.read_text()[-4000:]}"
        )
        time.sleep(0.5)


def stop_up(proc: subprocess.Popen[Any], sig: int = signal.SIGINT, grace: float = 30) -> None:
    """Ctrl-C (or ``sig``) to the process and its group, as a person stops `warroom up`, a receiver or a
    worker; killed if it does not stop within ``grace`` seconds."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:  # the whole group is gone already
        proc.wait()


def person(name: str, host_env: dict[str, str], laptop: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """NAME as a real person is set up: `warroom approvers enroll` on their own machine (their key stays in
    ``laptop``), an admin's `warroom approvers register` with the printed public line on the host. Returns
    the environment of NAME's own terminal (their key file) and their authenticator secrets by purpose."""
    import pyotp

    own = {**host_env, "WARROOM_KEY_FILE": str(laptop / "key.pem")}
    made = warroom_done("approvers", "enroll", name, env=own)
    assert made.returncode == 0, made.stdout + made.stderr
    line = made.stdout.strip().splitlines()[-1]
    registered = warroom_done("approvers", "register", name, "--public-key", line, env=host_env)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    secrets: dict[str, Any] = {}
    for text in registered.stdout.splitlines():
        if text.startswith("otpauth://"):
            totp = pyotp.parse_uri(text)
            secrets["acknowledge" if "acknowledge" in (totp.issuer or "") else "approve"] = totp
    return own, secrets
