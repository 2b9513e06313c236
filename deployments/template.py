"""One process that has imported what `warroom up`'s children run, forking each of them (gunicorn's preload).

A lane's worker and the launch loop spent 75-85 % of their start importing Prefect and the flows: each
``python -m`` paid it again, on every start and every restart after a crash. Here the template imports once,
and a child is a ``fork()`` of it that runs its ``python -m MODULE ARGS`` as that command would: the same
``sys.argv``, the same ``__main__``, its exit code, its atexit handlers, and the command as its title in
``ps`` (tests and operators find a lane by ``--lane`` there). A child is started warm within milliseconds.

The template forks from its only thread. It ignores Ctrl-C and SIGTERM (its children take them and stop
cleanly), ends when its parent closes the control socket, and dies with the thread that started it; each
child dies with the template (``deathsig``), so a ``kill -9`` of `warroom up` leaves nothing running.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from deployments.children import dying_with_parent
from deployments.heap import settle

log = logging.getLogger("warroom.template")

STOPS = {signal.SIGINT, signal.SIGTERM}  # ignored by the template, taken by its children


class ForkedChild:
    """A child forked by the template; the parts of ``subprocess.Popen`` its keepers use."""

    def __init__(self, pid: int, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _end(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass  # it ended; the template's word of it is on its way

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ProcessTemplate:
    """The parent's handle on a template process: ``spawn`` forks a child of it running a ``python -m``
    command. ``env`` is every child's environment (fixed when the template starts: modules read it as they
    are imported); ``preload`` the modules the template imports first (``module:function`` also calls it)."""

    def __init__(self, env: Mapping[str, str], preload: Iterable[str]) -> None:
        self.env = dict(env)
        self.preload = list(preload)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._replies: dict[int, threading.Event] = {}
        self._answers: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._asked: set[int] = set()  # the questions the running template has not answered

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the template (from a thread that lives as long as its children should)."""
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "deployments.template", str(theirs.fileno()), *self.preload],
            env=self.env,
            pass_fds=(theirs.fileno(),),
            preexec_fn=dying_with_parent(signal.SIGKILL),
        )
        theirs.close()
        self._sock = ours
        # Its own children and questions: the end of a template that died must not end its successor's.
        self._asked = set()
        threading.Thread(
            target=self._read,
            args=(ours, self._proc, {}, self._asked),
            name="warroom-template",
            daemon=True,
        ).start()

    def spawn(
        self, command: Sequence[str], *, deathsig: int = signal.SIGKILL, block: Iterable[int] = ()
    ) -> ForkedChild:
        """Fork a child running ``command`` (``[python, "-m", MODULE, *ARGS]``) with ``block`` signals
        blocked from its first instruction, and ``deathsig`` sent to it when the template ends."""
        if command[1:2] != ["-m"] or len(command) < 3:
            raise ValueError(f"a template runs `python -m MODULE ...` commands, not {list(command)!r}")
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    log.warning(
                        "the process template exited with %s; starting it again", self._proc.returncode
                    )
                self.start()
            assert self._sock is not None
            self._next += 1
            ask = self._next
            got = self._replies[ask] = threading.Event()
            self._asked.add(ask)
            request = {"id": ask, "argv": list(command[2:]), "title": " ".join(command)}
            request |= {"deathsig": int(deathsig), "block": sorted(int(s) for s in block)}
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        # The template answers once it has imported its modules: a minute on a loaded machine.
        if not got.wait(300):
            raise RuntimeError("the process template did not fork within 300 s")
        answer = self._answers.pop(ask)
        if "child" not in answer:
            raise RuntimeError(
                f"the process template could not fork {list(command)!r}: {answer.get('error')}"
            )
        child: ForkedChild = answer["child"]
        return child

    def _read(
        self,
        sock: socket.socket,
        proc: subprocess.Popen[bytes],
        children: dict[int, ForkedChild],
        asked: set[int],
    ) -> None:
        for line in sock.makefile("rb"):
            message = json.loads(line)
            if "exit" in message:
                ended = children.pop(message["exit"], None)
                if ended is not None:
                    ended._end(message["code"])
                continue
            if "pid" in message:
                message["child"] = children[message["pid"]] = ForkedChild(message["pid"], message["argv"])
            asked.discard(message["id"])
            self._answers[message["id"]] = message
            self._replies.pop(message["id"]).set()
        proc.wait()
        # The template is gone; its children died with it (their deathsig).
        for pid in list(children):
            children.pop(pid)._end(-signal.SIGKILL)
        for ask in list(asked):
            asked.discard(ask)
            self._answers[ask] = {"error": f"the template exited with {proc.returncode}"}
            self._replies.pop(ask).set()

    def close(self, timeout: float = 10.0) -> None:
        """End the template (its children should have been stopped first: they die with it)."""
        with self._lock:
            if self._sock is not None:
                # The reader's file keeps the socket open past close(): the template sees its end here.
                self._sock.shutdown(socket.SHUT_WR)
                self._sock.close()
                self._sock = None
            if self._proc is not None:
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()


@contextmanager
def process_template(env: Mapping[str, str], preload: Iterable[str]) -> Iterator[ProcessTemplate]:
    template = ProcessTemplate(env, preload)
    template.start()
    try:
        yield template
    finally:
        template.close()


# --- the template process ---------------------------------------------------------------------------------


def _serve(control: socket.socket) -> dict[str, Any] | None:
    """Fork a child per request until the parent closes the socket; returns in a child, its request."""
    import selectors

    template = os.getpid()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # the wakeup fd is what tells the loop
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fileobj == wake_r:
                os.read(wake_r, 4096)
                continue
            data = control.recv(65536)
            if not data:
                return None
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                # Blocked across the fork: a signal sent once its pid is known is held until the child
                # has its handlers (SIGUSR1's default action would end it; the template ignores Ctrl-C).
                held = signal.pthread_sigmask(signal.SIG_BLOCK, {*request["block"], *STOPS})
                try:
                    pid = os.fork()
                except OSError as exc:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
                    control.sendall(json.dumps({"id": request["id"], "error": str(exc)}).encode() + b"\n")
                    continue
                if pid == 0:
                    selector.close()
                    control.close()
                    signal.set_wakeup_fd(-1)
                    os.close(wake_r)
                    os.close(wake_w)
                    request["template"] = template
                    return request
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                answer = {"id": request["id"], "pid": pid, "argv": request["argv"]}
                control.sendall(json.dumps(answer).encode() + b"\n")
        while True:  # every child that ended, told to the parent
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            control.sendall(json.dumps({"exit": pid, "code": code}).encode() + b"\n")


def _become(request: dict[str, Any]) -> str:
    """In the child: the command's signals, title and argv; the module it runs."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set(request["block"]))  # a stop sent meanwhile lands now
    dying_with_parent(signal.Signals(request["deathsig"]))()  # the parent: the template
    if os.getppid() != request["template"]:  # it died before the line above: nobody would stop this one
        os._exit(1)
    import setproctitle

    setproctitle.setproctitle(request["title"])
    module, *args = request["argv"]
    sys.argv = [module, *args]
    return str(module)


def main() -> None:
    import importlib
    import runpy
    import warnings

    control = socket.socket(fileno=int(sys.argv[1]))
    # Its children take Ctrl-C and SIGTERM and stop cleanly; the template must outlive them.
    for stop in STOPS:
        signal.signal(stop, signal.SIG_IGN)
    for name in sys.argv[2:]:
        module, _, call = name.partition(":")  # "module:function" also calls it: a warm-up of its own
        imported = importlib.import_module(module)
        if call:
            getattr(imported, call)()
    if threading.active_count() > 1:  # a fork copies only the forking thread: locks others held stay held
        raise SystemExit(f"the process template has threads after its imports: {threading.enumerate()}")
    settle()  # what the imports made stays shared with the children, untouched by their collections
    request = _serve(control)
    if request is None:
        return
    # The module a child runs may have been imported by another preloaded one: run again as __main__, as
    # `python -m` would run it, which is what is meant.
    warnings.filterwarnings(
        "ignore", message=".* found in sys.modules after import of package", category=RuntimeWarning
    )
    runpy.run_module(_become(request), run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
