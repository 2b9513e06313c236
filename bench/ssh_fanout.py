"""SSH fan-out: one catalogue command on 1, 10 and 50 targets (a real sshd on 127.0.0.1), cold connections.

Prints the wall time of each and the ratio 50-target/1-target (goal: at most 3; Ansible's default of 5
forks would give about 10). Every target here is the same sshd on the same 2 cores as the client, so the
servers' work per session is added up instead of spread over 50 machines: the bench logs in as a
throwaway user whose shell is /bin/sh (made as root, removed after), because root's ~/.bashrc on this
machine runs `pyenv init` (~100 ms CPU) in every SSH session; `--login root` measures that too.

Run: python bench/ssh_fanout.py [--repeat 5] [--login root]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.processes import machine_busy_seconds  # noqa: E402

BENCH_USER = "warroom-bench"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--command", default="uptime")
    ap.add_argument("--login", default=None, help="Login to use (default: a throwaway /bin/sh user)")
    ap.add_argument(
        "--targets", default="1,10,50", help="How many targets each measured fan-out has (of 1, 10, 50)"
    )
    ap.add_argument(
        "--connect-timeout", type=float, default=None, help="Seconds to connect per host (default: Warroom's)"
    )
    args = ap.parse_args()
    if not set(args.targets.split(",")) <= {"1", "10", "50"}:
        ap.error(f"--targets: {args.targets!r} is not a list of 1, 10 and 50")
    login = args.login
    made_user = False
    if login is None:
        login = BENCH_USER
        if subprocess.run(["id", login], capture_output=True).returncode != 0:
            # "*": no password, yet not locked (without PAM, sshd refuses locked accounts).
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", "--password", "*", login],
                check=True,
            )
            made_user = True
    try:
        run(args, login)
    finally:
        if made_user:
            for _ in range(20):  # sshd's session processes may take a moment to go
                if subprocess.run(["userdel", login], capture_output=True).returncode == 0:
                    break
                time.sleep(0.5)


def run(args: argparse.Namespace, login: str) -> None:
    from tests.sshd import running_sshd

    with tempfile.TemporaryDirectory() as tmp, running_sshd(Path(tmp) / "sshd") as sshd:
        # sshd reads the authorized keys as the login user.
        for path, mode in ((Path(tmp), 0o755), (sshd.dir, 0o755), (sshd.dir / "authorized_keys", 0o644)):
            os.chmod(path, mode)
        hosts = {
            f"node{n:02d}": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port} for n in range(1, 51)
        }
        inventory = Path(tmp) / "inventory.yaml"
        inventory.write_text(yaml.safe_dump({"all": {"vars": {"ansible_user": login}, "hosts": hosts}}))
        os.environ.update(
            WARROOM_HOME=str(Path(tmp) / "home"),
            WARROOM_SSH_INVENTORY=str(inventory),
            WARROOM_SSH_KNOWN_HOSTS=str(sshd.known_hosts),
            WARROOM_SSH_KEY_FILE=str(sshd.client_key),
            WARROOM_SSH_CONFIG=str(Path(tmp) / "none"),
        )
        if args.connect_timeout is not None:
            os.environ["WARROOM_SSH_CONNECT_TIMEOUT"] = str(args.connect_timeout)
        from tasks.ssh import POOL, run_on_hosts
        from tasks.ssh.settings import SshSettings
        from warroom.settings import get_settings

        every = {1: "node01", 10: "node0*,node10", 50: "all"}
        selections = {n: every[n] for n in map(int, args.targets.split(","))}
        timings: dict[int, list[float]] = {}
        cpu: dict[int, list[float]] = {}
        for n, selection in selections.items():
            for _ in range(args.repeat):
                POOL.close()  # cold: every target connects, authenticates and runs
                before, started = machine_busy_seconds(), time.perf_counter()
                result = run_on_hosts(selection, args.command, {}, allow_changes=False)
                timings.setdefault(n, []).append(time.perf_counter() - started)
                cpu.setdefault(n, []).append(machine_busy_seconds() - before)
                assert result.ok == n, result.summary
        POOL.close()
        concurrency = get_settings().of(SshSettings).concurrency
    print(
        f"`{args.command}` over SSH as {login}, cold connections, concurrency {concurrency}, "
        f"median of {args.repeat} (machine CPU busy in brackets: client + sshd + commands, 2 cores):"
    )
    for n, values in timings.items():
        print(
            f"  {n:>2} target(s): {statistics.median(values):.3f}s "
            f"(min {min(values):.3f}s, max {max(values):.3f}s) [{statistics.median(cpu[n]):.2f} CPU-s]"
        )
    if 1 in timings and 50 in timings:
        ratio = statistics.median(timings[50]) / statistics.median(timings[1])
        print(f"ratio 50-target/1-target: {ratio:.2f} (goal <= 3)")


if __name__ == "__main__":
    main()
