"""The launch loop in a process of its own beside the receiver (``WARROOM_LAUNCH_PROCESS``, on by default).

In the receiver's process a storm's launches (Prefect's client, the ledger writes after each) took the
receiver's GIL from the alerts arriving: at 200 alerts/s while 500 runs launched, acceptance p50 was ~300 ms
for as long as the launches lasted, and 4-40 ms after them (``bench/intake.py``). Here they share only the
ledger, as two receivers do. The receiver wakes the loop with SIGUSR1 when it queues a launch; the loop
still polls, so a lost wake-up costs one poll, never a launch. The child reads the same environment as the
receiver (the Prefect API of this process's settings added), dies with the thread that started it, and is
started again if it dies on its own.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from functools import partial
from typing import Any

from deployments.children import dying_with_parent
from deployments.heap import settle
from deployments.template import ForkedChild, ProcessTemplate
from warroom.intake.launcher import LaunchLoop
from warroom.ledger import Store
from warroom.settings import Settings

log = logging.getLogger("warroom.intake")

WAKE = signal.SIGUSR1
TAKEN = {WAKE, signal.SIGTERM, signal.SIGINT}  # the child's signals, taken in its main thread's wait
# What the child imports before its loop starts (deployments/template.py forks it from a process that has).
PRELOAD = ("deployments.launch", "flows.unmatched", "warroom.intake.launcher")


def launch_loop(settings: Settings) -> LaunchLoop:
    """The loop that launches queued runbooks and triages what no runbook matched (not yet started)."""
    from deployments.lanes import URGENT_LEVELS
    from deployments.launch import PrefectLauncher
    from flows.unmatched import triage_unmatched_due

    launcher = PrefectLauncher()
    return LaunchLoop(
        # Its own connections: a storm of launches never makes an alert wait for a connection to the ledger.
        Store.from_settings(settings),
        launcher,
        poll_seconds=settings.intake_launch_poll_seconds,
        lease_seconds=settings.lease_seconds,
        parallel=settings.launch_parallel,
        unmatched=partial(triage_unmatched_due, settings),
        urgent=URGENT_LEVELS,
        warm=launcher.warm,
    )


def _blocking_wake_until_ready() -> Any:
    """``preexec_fn``: SIGUSR1 blocked across exec (its default action is to end the process) until the
    child waits for it; and SIGTERM when the starting thread ends."""
    die = dying_with_parent(signal.SIGTERM)

    def arrange() -> None:  # pragma: no cover - runs in the child between fork and exec
        signal.pthread_sigmask(signal.SIG_BLOCK, {WAKE})
        die()

    return arrange


def child_environment() -> dict[str, str]:
    """This process's environment and the Prefect API its settings point at (a test harness or `warroom up`
    may have set them for this process only)."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    env = dict(os.environ)
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    if PREFECT_API_AUTH_STRING.value():
        env["PREFECT_API_AUTH_STRING"] = str(PREFECT_API_AUTH_STRING.value())
    return env


class LaunchProcess:
    """Runs ``python -m deployments.launch_process`` and keeps it running until ``stop()``: forked from
    ``template`` (warm at once, its environment the child's) when given, else a new process each time."""

    def __init__(self, restart_seconds: float = 1.0, template: ProcessTemplate | None = None) -> None:
        self.restart_seconds = restart_seconds
        self.template = template
        # Read here, in the caller's settings context; a fork takes the template's environment instead.
        self._env = child_environment() if template is None else None
        self._proc: subprocess.Popen[bytes] | ForkedChild | None = None
        self.exits: list[int] = []  # each child's exit code, in order
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="warroom-launch-process", daemon=True)

    def start(self) -> None:
        self._keeper.start()
        if self.template is None:
            self._started.wait(30)
        # A fork waits for the template's imports: meanwhile the receiver serves, its wakes are lost and
        # the child, polling as it starts, finds the launches they were for.

    def wake(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, WAKE)
            except ProcessLookupError:
                pass  # it just ended: the keeper starts another, which looks for launches as it starts

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _keep(self) -> None:
        # Started from this thread, which lives as long as the loop should: the child dies with it.
        command = [sys.executable, "-m", "deployments.launch_process"]
        while not self._stopping.is_set():
            if self.template is not None:
                try:
                    self._proc = self.template.spawn(command, deathsig=signal.SIGTERM, block={WAKE})
                except (RuntimeError, OSError) as exc:  # its template died meanwhile: tried again
                    log.error("the launch loop's process could not be started: %s", exc)
                    self._stopping.wait(self.restart_seconds)
                    continue
            else:
                self._proc = subprocess.Popen(command, env=self._env, preexec_fn=_blocking_wake_until_ready())
            self._started.set()
            if self._stopping.is_set():  # stopped while it was being forked: stop() found no child
                self._proc.terminate()
            code = self._proc.wait()
            self.exits.append(code)
            if not self._stopping.is_set():
                log.error("the launch loop's process exited with %s; starting it again", code)
                self._stopping.wait(self.restart_seconds)

    def stop(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # it releases the launch lease on its way out
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._keeper.join(5)

    def join(self, timeout: float | None = None) -> None:
        self._keeper.join(timeout)


def main() -> None:
    """The child: the receiver's launch loop, woken by SIGUSR1, stopped by SIGTERM or SIGINT.

    The signals are taken by ``sigtimedwait`` in the main thread, never by a handler: a handler that sets
    the loop's event runs between any two bytecodes, and one wake landing inside another's ``Event.set``
    waited forever for the lock the interrupted one held. The loop's thread then waited for it too, and
    nothing launched (a storm's wakes did it: bench/intake.py)."""
    from warroom.settings import get_settings

    # Blocked before any thread starts, so every thread inherits it and only the wait below takes them.
    signal.pthread_sigmask(signal.SIG_BLOCK, TAKEN)
    loop = launch_loop(get_settings())
    settle()
    loop.start()
    try:
        while loop.is_alive():
            got = signal.sigtimedwait(TAKEN, 1.0)
            if got is None:
                continue
            if got.si_signo != WAKE:
                return
            loop.wake()
        sys.exit(1)
    finally:
        loop.stop()
        loop.join(10)
        loop.store.close()


if __name__ == "__main__":
    main()
