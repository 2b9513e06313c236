"""A long-lived process's heap, settled once it is warm: what it loaded to start (modules, the runbook
catalogue, Prefect's and SQLAlchemy's machinery) is kept out of the garbage collector's full passes.

Measured under bench/intake.py at 200 alerts/s: a full pass over a receiver's ~200,000 start-up objects
paused every thread for 45-120 ms, a launch process's for 50-140 ms, and the requests in flight waited it
out. Frozen, a full pass looks only at what was made since; nothing frozen is ever freed, which is right for
what a process holds until it exits.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what starting left behind, then exempt everything still alive from later collections."""
    gc.collect()
    gc.freeze()
