"""Every benchmark runs as its docstring says, from the checkout, with tiny sizes: none can rot unnoticed.
They run at once (each mostly waits on the servers it starts), so this costs about the slowest of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unleash_server import unavailable as unleash_unavailable

pytestmark = pytest.mark.long(250)

TINY = {
    "approval_latency.py": (["--runs", "1"], "resolved"),
    "aws_diagnostics.py": (["--repeat", "1"], "API calls"),
    "chat_rooms.py": (["--incidents", "3", "--events", "2", "--poll", "0.5"], "event -> message"),
    "flags.py": (["--runs", "2"], "flags.disable"),
    "gates.py": (["--gates", "3", "--window", "1"], "gates answered within"),
    "intake.py": (
        ["--rate", "20", "--seconds", "1", "--storm", "20", "--first-task", "1"],
        "incidents created 20",
    ),
    "kubernetes_diagnostics.py": (["--repeat", "1", "--pods", "10"], "API calls"),
    "ledger.py": (["--events", "200", "--incidents", "20"], "incidents list"),
    "reentry.py": (["--runs", "1", "--stale", "4", "--poll", "0.5"], "gate open again"),
    "report.py": (["--incidents", "200", "--events", "2000"], "report over 90 days"),
    "routing.py": (["--alerts", "40", "--fingerprints", "10"], "ms of CPU per alert"),
    "scale.py": (["--incidents", "3", "--alerts", "6", "--behind", "2"], "runs per minute"),
    # Ten cold handshakes, not fifty, and a connect deadline that only guards a hang: beside a second
    # suite, ten connections to the one sshd went past Warroom's 10 s.
    "ssh_fanout.py": (["--repeat", "1", "--targets", "1,10", "--connect-timeout", "120"], "target(s)"),
    "status_page.py": (
        ["--incidents", "20", "--components", "3", "--readers", "2", "--requests", "20"],
        "req/s",
    ),
    "ui_resumes.py": (["--answers", "3", "--think", "0"], "went through: 3/3"),
}

# Benchmarks whose tiny run is another test's: one demo serves both (tests/test_demo.py runs story.py).
ELSEWHERE = {"story.py": "tests/test_demo.py"}


def test_every_benchmark_runs_from_the_checkout_with_tiny_sizes(tmp_path: Path) -> None:
    scripts = sorted(
        p.name
        for p in (REPO / "bench").glob("*.py")
        if p.name
        not in ("figures.py", "gated.py", "postgres.py", "processes.py", "scale_reads.py", "sending.py")
    )
    assert scripts == sorted([*TINY, *ELSEWHERE]), "a new benchmark needs its tiny run here"
    for name, test in ELSEWHERE.items():
        assert f"bench/{name}" in (REPO / test).read_text(), f"{test} no longer runs {name}"
    skipped = {"flags.py": unleash_unavailable()} if unleash_unavailable() else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PREFECT_"))}
    env.update({k: v for k, v in os.environ.items() if k == "WARROOM_TEST_DATABASE_URL"})
    running = {}
    for name, (args, _) in TINY.items():
        if name in skipped:
            continue
        running[name] = subprocess.Popen(
            [sys.executable, f"bench/{name}", *args],  # as the docstrings say: from the repository root
            cwd=REPO,
            env={**env, "WARROOM_HOME": str(tmp_path / name)},  # none writes to ~/.warroom
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 600  # a hang guard: each prints its own figures
    failures = []
    for name, proc in running.items():
        try:
            output, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            failures.append(f"{name}: did not finish in time\n{output[-2000:]}")
            continue
        expected = TINY[name][1]
        if proc.returncode != 0 or expected not in output:
            failures.append(f"{name}: exit {proc.returncode}, {expected!r} not printed\n{output[-2000:]}")
    assert not failures, "\n\n".join(failures)
    if skipped:
        pytest.skip(f"ran all but flags.py: {skipped['flags.py']}")
