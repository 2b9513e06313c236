"""The process template `warroom up` and `warroom worker` fork their lanes and launch loop from: a child
runs its `python -m` command as that command would, is told apart in `ps` by it, takes the stops the
template ignores, and nothing is left running when whoever started the template is killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.template import ProcessTemplate, process_template
from tests.net import free_port
from tests.patience import HANG
from tests.served import wait_for


@pytest.fixture(scope="module")
def template() -> Iterator[ProcessTemplate]:
    with process_template(dict(os.environ), ["http.server"]) as started:
        yield started


def _serving(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _blocked(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)


def test_a_forked_command_runs_as_python_m_would_and_shows_its_command_in_ps(
    template: ProcessTemplate,
) -> None:
    port = free_port()
    child = template.spawn(_serving(port))
    try:
        wait_for("the forked server to answer", lambda: _answers(port))
        assert Path(f"/proc/{child.pid}/cmdline").read_bytes().rstrip(b"\0").decode() == " ".join(
            _serving(port)
        )
        assert int(Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == template.pid
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGINT)  # Ctrl-C: http.server stops cleanly on KeyboardInterrupt
    assert child.wait(HANG) == 0
    failing = template.spawn([sys.executable, "-m", "cli", "no-such-command"])
    assert failing.wait(HANG) == 2  # Typer's usage error, as from `python -m cli no-such-command`
    missing = template.spawn([sys.executable, "-m", "no_such_module_here"])
    assert missing.wait(HANG) == 1


def _answers(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_signal_blocked_for_the_child_is_held_from_its_first_instruction(template: ProcessTemplate) -> None:
    """The launch loop's wake (SIGUSR1, whose default action ends a process) may be sent the moment its pid
    is known: the child is forked with it blocked, and a SIGTERM sent as early is not lost."""
    child = template.spawn(_serving(free_port()), block={signal.SIGUSR1})
    for _ in range(50):
        os.kill(child.pid, signal.SIGUSR1)
    time.sleep(0.5)
    assert child.poll() is None and _alive(child.pid)
    assert _blocked(child.pid) & (1 << (signal.SIGUSR1 - 1))
    assert not _blocked(child.pid) & (1 << (signal.SIGTERM - 1))
    early = template.spawn(_serving(free_port()))
    early.terminate()  # before it has a handler of its own
    assert early.wait(HANG) == -signal.SIGTERM
    child.kill()
    assert child.wait(HANG) == -signal.SIGKILL


def test_the_template_ignores_the_stops_its_children_take(template: ProcessTemplate) -> None:
    """Ctrl-C reaches the whole process group: the template must outlive its children's clean stop, or they
    would die of its death mid-stop."""
    child = template.spawn(_serving(free_port()))
    assert template.pid is not None
    os.kill(template.pid, signal.SIGINT)
    os.kill(template.pid, signal.SIGTERM)
    time.sleep(0.5)
    assert _alive(template.pid) and child.poll() is None
    child.send_signal(signal.SIGINT)
    assert child.wait(HANG) == 0


def test_kill_9_of_the_starter_leaves_neither_the_template_nor_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, sys, time
                from deployments.template import process_template
                with process_template(dict(os.environ), []) as t:
                    children = [t.spawn({_serving(free_port())!r}), t.spawn({_serving(free_port())!r})]
                    started = [t.pid] + [c.pid for c in children]
                    open({str(pids)!r}, "w").write(" ".join(map(str, started)))
                    time.sleep(3600)
                """
            ),
        ],
        cwd=Path(__file__).parent.parent,
    )
    try:
        wait_for("the template and its children", lambda: pids.exists() and pids.read_text())
        started = [int(p) for p in pids.read_text().split()]
        assert all(_alive(p) for p in started)
        starter.kill()
        wait_for(
            "the template and its children to die with their starter", lambda: not any(map(_alive, started))
        )
    finally:
        starter.kill()
        starter.wait()


def test_a_template_that_died_is_started_again_for_the_next_child() -> None:
    with process_template(dict(os.environ), []) as template:
        first = template.spawn(_serving(free_port()))
        assert template.pid is not None
        os.kill(template.pid, signal.SIGKILL)
        assert first.wait(HANG) == -signal.SIGKILL  # it died with its template
        port = free_port()
        second = template.spawn(_serving(port))
        wait_for("the server forked from the new template to answer", lambda: _answers(port))
        second.send_signal(signal.SIGINT)
        assert second.wait(HANG) == 0
