"""Processes `warroom up` and `warroom worker` start that must not outlive them: killed with -9, their
Prefect server would keep its port (the next `warroom up` then refuses to start) and a lane would keep
answering gates the next start re-enters."""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def dying_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A ``preexec_fn`` (or a call in a child just forked): the child gets ``sig`` when the thread that
    started it ends (Linux)."""

    def arrange() -> None:  # pragma: no cover - runs in the child, after its fork
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)

    return arrange
