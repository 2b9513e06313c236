"""`warroom demo` as a newcomer runs it after the README's first command: the bad-deploy story end to end in
a sandbox (the Kubernetes API stand-in, a service, `warroom up` in a throwaway home), exit 0 when resolved."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.long(65)


def _played(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repository root, with no terminal, as a newcomer's second terminal runs it."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_demo_plays_the_bad_deploy_story_to_resolved_and_says_what_happened() -> None:
    """Played through bench/story.py (which runs `warroom demo --approve-as alice --keep` and reads its times
    off the kept timeline, in an environment without the test's WARROOM_/PREFECT_ settings), so the
    benchmark's tiny run and the demo's test are one demo, not two."""
    done = _played("bench/story.py", "--runs", "1", "--show", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = done.stdout
    assert "machine time (alert -> resolved)" in said  # the benchmark read the story's times
    assert "sandbox: Kubernetes API with prod/web (revision 3 crash-loops" in said
    assert "proposed: proposed rollback (kubernetes.rollback)" in said
    assert "dry run: would roll prod/web back from revision 3 (web:3) to the template of revision 2" in said
    assert "approved by alice (signed)" in said
    assert "resolved: prod/web runs web:2 again" in said
    assert "| verification.passed | warroom | health_after (http.check): status 200" in said
    assert "paged nobody (no one on call for primary)" in said  # the demo has no schedule: nobody is woken
    assert "## 1. Incident Summary" in said and "(approved by alice)" in said
    # The draft's root cause lists the demo's three unhealthy findings as its evidence, and nothing healthy.
    _, _, drafted = said.partition("From the post-mortem's root cause, what the diagnostics found:\n")
    found = drafted.split("\n\n")[0]
    evidence = [line.split(" ", 2)[1] for line in found.splitlines() if line.startswith("- ")]
    assert sorted(evidence) == ["baseline", "health", "pods"], found
    assert "Prefect UI: http://127.0.0.1:" in said


def test_without_a_terminal_the_demo_asks_for_an_approver_up_front() -> None:
    done = _played("-m", "cli", "demo", timeout=300)
    assert done.returncode == 2 and "give --approve-as NAME" in done.stderr
