"""One launch loop and one keeper per cluster of receivers on one ledger, taken over when the holder dies;
launches go most severe first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from warroom.incident import Severity
from warroom.intake.launcher import LEASE, LaunchLoop
from warroom.ledger import Store
from warroom.ledger.leases import MACHINE, abandoned


class _Recording:
    """Stands where Prefect's run_deployment stands: records which process launched what, in order."""

    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name = name
        self.calls = calls

    def launch(self, runbook: str, parameters: dict[str, Any], idempotency_key: str, level: Severity) -> str:
        self.calls.append((self.name, idempotency_key))
        return f"run-{idempotency_key}"


def _queue(store: Store, n: int, severity: Severity = Severity.P4, prefix: str = "a") -> list[str]:
    keys = []
    for i in range(n):
        key = f"{prefix}-{i}"
        payload = store.save_payload("generic", b"{}", remote=None, content_type="application/json")
        opened = store.open_or_attach(
            f"dedup:{key}",
            title=key,
            severity=severity,
            service=None,
            runbook="svc",
            data={},
            event=("alert.firing", "firing"),
        )
        assert store.queue_launch(
            key,
            payload_id=payload,
            incident=opened.incident.number,
            runbook="svc",
            dedup_key=f"dedup:{key}",
            alert={},
            priority=severity.rank,
        )
        keys.append(key)
    return keys


def test_only_one_process_holds_a_lease_at_a_time(ledger_url: str) -> None:
    stores = [Store(ledger_url) for _ in range(6)]
    try:
        barrier = threading.Barrier(len(stores))

        def ask(i: int) -> bool:
            barrier.wait()
            return stores[i].hold("job", f"p{i}", 30).held

        with ThreadPoolExecutor(len(stores)) as pool:
            held = list(pool.map(ask, range(len(stores))))
        assert held.count(True) == 1
        holder = f"p{held.index(True)}"
        assert stores[0].lease_holder("job") == holder
        assert stores[1].hold("job", holder, 30).held  # the holder renews
        assert not stores[2].hold("job", "someone-else", 30).held
    finally:
        for s in stores:
            s.close()


def test_an_expired_lease_is_taken_over_and_a_released_one_at_once(ledger_url: str) -> None:
    a, b = Store(ledger_url), Store(ledger_url)
    try:
        assert a.hold("job", "a", 1).held
        assert not b.hold("job", "b", 1).held
        time.sleep(1.2)  # a died without a word: its lease runs out
        taken = b.hold("job", "b", 30)
        assert taken.held and taken.taken_from == "a"
        assert not a.hold("job", "a", 1).held  # the old holder, back, does not get it back
        b.release("job", "b")
        assert a.hold("job", "a", 30).held
    finally:
        a.close()
        b.close()


def test_one_launch_loop_of_two_launches_and_the_other_takes_over_after_it_dies(ledger_url: str) -> None:
    first, second = Store(ledger_url), Store(ledger_url)
    calls: list[tuple[str, str]] = []
    try:
        loop_a = LaunchLoop(first, _Recording("a", calls), lease_seconds=1, parallel=2)
        loop_b = LaunchLoop(second, _Recording("b", calls), lease_seconds=1, parallel=2)
        keys = _queue(first, 5)
        assert loop_a.drain() == 5
        _queue(first, 3, prefix="b")
        assert loop_b.drain() == 0  # a holds the lease: b launches nothing
        assert {who for who, _ in calls} == {"a"}
        assert first.lease_holder(LEASE) == loop_a.lease.holder
        # a is killed (no release); its lease expires and b launches what a left behind.
        time.sleep(1.2)
        assert loop_b.drain() == 3
        assert [who for who, _ in calls] == ["a"] * 5 + ["b"] * 3
        assert sorted(k for _, k in calls) == sorted([*keys, "b-0", "b-1", "b-2"])  # each launched once
        assert all(launch.state == "launched" for launch in first.launches())
    finally:
        first.close()
        second.close()


def test_a_p1_is_launched_before_a_storm_of_p4s_queued_ahead_of_it(ledger_url: str) -> None:
    store = Store(ledger_url)
    calls: list[tuple[str, str]] = []
    try:
        _queue(store, 30, Severity.P4, prefix="p4")
        _queue(store, 1, Severity.P1, prefix="p1")
        _queue(store, 2, Severity.P2, prefix="p2")
        assert [launch.idempotency_key for launch in store.due_launches(limit=3)] == ["p1-0", "p2-0", "p2-1"]
        LaunchLoop(store, _Recording("a", calls), parallel=1).drain()
        assert [k for _, k in calls[:3]] == ["p1-0", "p2-0", "p2-1"]
        assert len(calls) == 33
    finally:
        store.close()


def _held_by_a_child(ledger_url: str) -> tuple[subprocess.Popen[str], str]:
    """A process of its own takes the lease for a minute and waits, as a keeper under `warroom up` does."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from warroom.ledger import Store\n"
            "from warroom.ledger.leases import Lease\n"
            "lease = Lease(Store(sys.argv[1]), 'job', 'keeper', 60)\n"
            "assert lease.leading()\n"
            "print(lease.holder, flush=True)\n"
            "time.sleep(600)\n",
            ledger_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def test_a_lease_whose_process_on_this_machine_is_gone_is_taken_at_once_a_live_ones_is_not(
    ledger_url: str,
) -> None:
    store = Store(ledger_url)
    child, holder = _held_by_a_child(ledger_url)
    try:
        assert store.lease_holder("job") == holder
        assert not store.hold("job", "restarted", 60).held  # alive: it keeps its lease
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        taken = store.hold("job", "restarted", 60)  # its minute is not over, but its process is
        assert taken.held and taken.taken_from == holder
    finally:
        child.kill()
        child.wait()
        store.close()


def test_a_dead_holder_on_another_machine_is_waited_out(ledger_url: str) -> None:
    store = Store(ledger_url)
    try:
        # The same host name and a pid nobody has here, but another machine's token (another container).
        elsewhere = f"keeper@{socket.gethostname()}:{2**22 + 1}:abcdef:{'0' * 6}"
        assert not abandoned(elsewhere)
        assert store.hold("job", elsewhere, 60).held
        assert not store.hold("job", "restarted", 60).held
        assert not abandoned(f"keeper@{socket.gethostname()}:{os.getpid()}:abcdef:{MACHINE}")  # this one
        assert abandoned(f"keeper@{socket.gethostname()}:{2**22 + 1}:abcdef:{MACHINE}") == bool(MACHINE)
    finally:
        store.close()
