"""The ledger: one open incident per key under concurrency, an append-only timeline, recorded changes."""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from warroom.events import EventKind
from warroom.incident import ActionItemStatus, IllegalTransition, Role, Severity, Status
from warroom.ledger import NotFound, Store, StoreError, StoreUnavailable

THREADS = 16


def _race(url: str, key: str, barrier: threading.Barrier | None = None) -> str:
    store = Store(url)
    try:
        if barrier is not None:
            barrier.wait()
        return store.open_or_attach(key, title="checkout 5xx", severity=Severity.P2).incident.id
    finally:
        store.close()


def _process_worker(url: str, key: str, barrier: object, queue: object, threads: int) -> None:
    local = threading.Barrier(threads)
    barrier.wait()  # type: ignore[attr-defined]
    with ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(lambda _: _race(url, key, local), range(threads)))
    queue.put(ids)  # type: ignore[attr-defined]


def test_concurrent_threads_open_exactly_one_incident(store: Store, ledger_url: str) -> None:
    barrier = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(lambda _: _race(ledger_url, "am:checkout", barrier), range(THREADS)))
    assert len(set(ids)) == 1
    open_ = store.list_incidents(status=[s for s in Status if s.is_open])
    assert [i.id for i in open_] == [ids[0]]
    kinds = [e.kind for e in store.timeline(ids[0])]
    assert kinds.count("incident.opened") == 1
    assert kinds.count("incident.attached") == THREADS - 1


def test_two_processes_racing_on_a_fresh_database_open_one_incident(ledger_url: str) -> None:
    """Both processes also migrate the empty database at the same moment, as two first starts would."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(ledger_url, "k", barrier, queue, 8)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ids = {i for r in results for i in r}
    assert len(ids) == 1
    store = Store(ledger_url)
    assert store.count_incidents() == 1
    assert len(store.timeline(ids.pop())) == 16
    store.close()


def test_resolved_incident_frees_its_key_and_a_new_alert_opens_a_new_one(store: Store) -> None:
    first = store.open_or_attach("k", title="disk", severity=Severity.P3).incident
    for s in (Status.TRIAGED, Status.RESOLVED):
        store.set_status(first.id, s)
    again = store.open_or_attach("k", title="disk again", severity=Severity.P3)
    assert again.created and again.incident.id != first.id
    # Reopening the first would give the key two open incidents: refused with a clear message.
    with pytest.raises(StoreError, match="another incident is open"):
        store.set_status(first.id, Status.INVESTIGATING)


def test_timeline_keeps_insertion_order(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    for n in range(25):
        store.append(inc.id, "note", f"note {n}", actor="alice")
    texts = [e.text for e in store.timeline(inc.id)]
    assert texts == ["incident opened: t"] + [f"note {n}" for n in range(25)]
    ids = [e.id for e in store.timeline(inc.id)]
    assert ids == sorted(ids)


def test_the_timeline_refuses_a_kind_outside_its_vocabulary_and_writes_nothing(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    with pytest.raises(ValueError, match="is not a valid EventKind"):
        store.append(inc.id, "approval.granted_by_chat", "yes", actor="mallory")  # type: ignore[arg-type]
    assert [e.kind for e in store.timeline(inc.id)] == [EventKind.INCIDENT_OPENED]


@pytest.mark.parametrize(
    "statement", ["UPDATE timeline_events SET text = 'rewritten'", "DELETE FROM timeline_events"]
)
def test_database_refuses_to_rewrite_or_delete_timeline_events(store: Store, statement: str) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    store.append(inc.id, "note", "what happened", actor="bob")
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert [e.text for e in store.timeline(inc.id)][-1] == "what happened"


def test_event_key_makes_recording_idempotent(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    a = store.append(inc.id, "note", "investigating", key="run-1:investigate")
    b = store.append(inc.id, "note", "investigating", key="run-1:investigate")
    assert a.id == b.id
    assert len(store.timeline(inc.id)) == 2
    store.set_status(inc.id, Status.TRIAGED, key="run-1:triaged")
    store.set_status(inc.id, Status.TRIAGED, key="run-1:triaged")  # a re-run: no error, no duplicate
    assert [e.kind for e in store.timeline(inc.id)].count("status.changed") == 1


def test_status_machine_records_every_transition_and_times(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P1).incident
    path = [
        Status.TRIAGED,
        Status.INVESTIGATING,
        Status.MITIGATING,
        Status.MONITORING,
        Status.RESOLVED,
        Status.CLOSED,
    ]
    for s in path:
        inc = store.set_status(inc.id, s, actor="alice")
    changes = [e.data for e in store.timeline(inc.id) if e.kind == "status.changed"]
    assert [(c["from"], c["to"]) for c in changes] == list(
        zip([Status.DETECTED, *path[:-1]], path, strict=True)
    )
    assert inc.mitigated_at is not None and inc.resolved_at is not None and inc.closed_at is not None
    assert inc.mitigated_at <= inc.resolved_at <= inc.closed_at
    with pytest.raises(IllegalTransition, match="closed is final"):
        store.set_status(inc.id, Status.INVESTIGATING)


def test_illegal_transition_changes_nothing(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P1).incident
    with pytest.raises(IllegalTransition, match="cannot go from detected to monitoring"):
        store.set_status(inc.id, Status.MONITORING)
    assert store.get(inc.id).status is Status.DETECTED
    assert [e.kind for e in store.timeline(inc.id)] == ["incident.opened"]


def test_roles_severity_and_acknowledgement_are_timeline_events(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P3).incident
    store.assign_role(inc.id, Role.COMMANDER, "alice", actor="warroom")
    store.assign_role(inc.id, Role.RESPONDER, "bob")
    store.assign_role(inc.id, Role.RESPONDER, "carol")
    store.assign_role(inc.id, Role.COMMS_LEAD, "dave")
    store.set_severity(inc.id, Severity.P1, actor="alice", reason="all regions down")
    store.acknowledge(inc.id, actor="alice")
    later = store.acknowledge(inc.id, actor="bob")  # the first acknowledgement is the one that counts
    got = store.get(inc.id)
    assert got.roles.commander == "alice" and got.roles.responders == ["bob", "carol"]
    assert got.roles.comms_lead == "dave" and got.severity is Severity.P1
    assert later.acknowledged_at == got.acknowledged_at
    kinds = [e.kind for e in store.timeline(inc.id)]
    assert kinds == ["incident.opened"] + ["role.assigned"] * 4 + ["severity.set", "incident.acknowledged"]


def test_action_items_are_tracked(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    item = store.add_action_item(inc.id, "Add canary", owner="alice")
    store.update_action_item(item.id, status=ActionItemStatus.DONE, tracker_url="file:///tmp/1")
    [got] = store.action_items(inc.id)
    assert got.status is ActionItemStatus.DONE and got.completed_at is not None
    assert got.tracker_url == "file:///tmp/1"
    assert store.action_items(status=ActionItemStatus.OPEN) == []


def test_list_filters_by_status_and_severity(store: Store) -> None:
    for n in range(6):
        inc = store.open_or_attach(
            f"k{n}", title=f"t{n}", severity=Severity.P1 if n % 2 else Severity.P3
        ).incident
        if n < 2:
            store.set_status(inc.id, Status.TRIAGED)
    assert len(store.list_incidents(severity=Severity.P1)) == 3
    assert [i.title for i in store.list_incidents(status=Status.TRIAGED)] == ["t1", "t0"]
    assert len(store.list_incidents(limit=2)) == 2


def test_secrets_never_reach_the_timeline(store: Store) -> None:
    inc = store.open_or_attach("k", title="t", severity=Severity.P2).incident
    store.append(
        inc.id,
        "note",
        "connecting to postgresql://app:hunter22@db/prod",
        data={"password": "hunter22", "nested": {"api_token": "abc123"}, "dsn": "redis://u:pw55@h"},
    )
    [_, event] = store.timeline(inc.id)
    dumped = event.model_dump_json()
    assert "hunter22" not in dumped and "abc123" not in dumped and "pw55" not in dumped


def test_unknown_incident_is_a_clear_error(store: Store) -> None:
    with pytest.raises(NotFound, match="no incident INC-404"):
        store.get("INC-404")


def test_unreachable_database_names_the_url_without_its_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        Store("postgresql+psycopg://warroom:s3cr3t-pw@127.0.0.1:9/ledger")
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "postgresql+psycopg://warroom:***@127.0.0.1:9/ledger" in message
    assert "\n" not in message


def test_store_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from warroom.ledger import HEAD, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_a_writer_waits_for_another_process_writers_turn_on_the_same_sqlite_file(tmp_path: Path) -> None:
    """Writers of another process (the receiver's launch process, the lanes) hold ``<ledger>.turns``
    while they write: this process's writer waits for that turn, and starts as it ends, instead of
    meeting SQLite's lock and sleeping in its busy steps."""
    import fcntl
    import os

    from tests.patience import HANG

    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    elsewhere = os.open(tmp_path / "ledger.db.turns", os.O_RDONLY)  # an open file of its own: another writer
    fcntl.flock(elsewhere, fcntl.LOCK_EX)
    written = threading.Event()

    def write() -> None:
        store.save_payload("generic", b"{}", remote=None, content_type=None)
        written.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert not written.wait(0.5), "wrote while another process had the turn"
    finally:
        fcntl.flock(elsewhere, fcntl.LOCK_UN)
        os.close(elsewhere)
    assert written.wait(HANG)
    assert len(store.payloads()) == 1
    store.close()


def test_a_unit_keeps_all_of_its_writes_or_none_and_what_follows_it_runs_after_its_commit(
    store: Store, ledger_url: str
) -> None:
    """The receiver keeps a body, its incident and its launch in one unit; a race its insert lost inside
    (a launch queued twice) leaves the unit usable, on PostgreSQL as on SQLite."""
    other = Store(ledger_url)  # another process's view: only what is committed
    seen: list[int] = []
    try:
        with store.unit():
            payload = store.save_payload("generic", b"{}", remote=None, content_type=None)
            opened = store.open_or_attach("unit:kept", title="kept", severity=Severity.P2)
            launch = {"payload_id": payload, "incident": opened.incident.number, "runbook": "rb"}
            assert store.queue_launch("unit-launch", dedup_key="unit:kept", alert={}, priority=2, **launch)
            assert not store.queue_launch(
                "unit-launch", dedup_key="unit:kept", alert={}, priority=2, **launch
            )
            store.after_commit(lambda: seen.append(len(other.due_launches())))
            assert other.find_open("unit:kept") is None and seen == []  # nothing visible before the commit
            assert store.find_open("unit:kept") is not None  # the unit reads its own writes
        assert seen == [1] and other.find_open("unit:kept") is not None

        with pytest.raises(RuntimeError), store.unit():
            store.save_payload("generic", b"{}", remote=None, content_type=None)
            store.open_or_attach("unit:gone", title="gone", severity=Severity.P2)
            store.after_commit(lambda: seen.append(-1))
            raise RuntimeError("routing failed half way")
        assert other.find_open("unit:gone") is None and seen == [1]  # nothing of it, nothing woken
        assert len(other.payloads()) == 1
    finally:
        other.close()
