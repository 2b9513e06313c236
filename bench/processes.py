"""What the benchmarks measure of processes, from /proc: CPU seconds of one process or a tree of them, the
machine's busy CPU, and the processes a command line names."""

from __future__ import annotations

import os
from pathlib import Path


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait), from /proc/stat."""
    values = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """A process's CPU with its live descendants' (a process worker's flow runs are its children)."""
    total = cpu_or_zero(pid)
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        total += sum(tree_cpu_seconds(int(child)) for child in children)
    return total


def cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # gone between listing and reading
        return 0.0


def pids(pattern: str, *, name: bool = False) -> list[int]:
    """Processes whose command line holds ``pattern`` (or, with ``name``, whose name is exactly it: the
    benchmark's own command line holds "postgres" when given --postgres)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if name:
                    hit = (entry / "comm").read_text().strip() == pattern
                else:
                    hit = pattern in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if hit:
                found.append(int(entry.name))
    return found
