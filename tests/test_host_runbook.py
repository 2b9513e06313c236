"""The shipped host-disk-full runbook end to end: alert, SSH diagnostics, approval, cleanup, verify."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.answer import answer_gate
from tasks.ssh import POOL
from tests.conftest import PASSPHRASE, REPO
from tests.flow_helpers import FlowThread, code, wait_for_gate, wait_for_incident
from tests.sshd import Sshd
from warroom.ledger import Store
from warroom.settings import get_settings

DF_FULL = """Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/vda1         41152736  20576368  18476756      53% /
/dev/vdb1        103081248  99993004   3088244      97% /data
"""
DF_AFTER = DF_FULL.replace("99993004   3088244      97%", "61848748  41232500      60%")


@pytest.fixture
def host_env(
    sshd: Sshd,
    prefect_api: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Store, Path]]:
    # The "disk" is a df listing on the host, so the test can fill and clean it; the commands still run over
    # real SSH through sshd, as the catalogue (a site setting) says.
    state = tmp_path / "db1"
    (state / "junk").mkdir(parents=True)
    for n in range(3):
        (state / "junk" / f"core.{n}").write_text("x" * 1000)
    (state / "df.txt").write_text(DF_FULL)
    (state / "df-after.txt").write_text(DF_AFTER)
    inventory = {
        "all": {
            "vars": {"ansible_user": sshd.user},
            "children": {"db": {"hosts": {"db1": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port}}}},
        }
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    commands = {
        "disk_usage": {"run": f"cat {state}/df.txt"},
        "cleanup_tmp": {
            "run": f"find {state}/junk -type f -print -delete | wc -l"
            f" && cp {state}/df-after.txt {state}/df.txt",
            "changes": True,
        },
    }
    env = {
        "WARROOM_RUNBOOKS_DIR": str(REPO / "runbooks"),
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path_factory.getbasetemp() / 'host-ledger.db'}",
        "WARROOM_SSH_INVENTORY": str(tmp_path / "inventory.yaml"),
        "WARROOM_SSH_KNOWN_HOSTS": str(sshd.known_hosts),
        "WARROOM_SSH_KEY_FILE": str(sshd.client_key),
        "WARROOM_SSH_KEY_PASSPHRASE": PASSPHRASE,
        "WARROOM_SSH_CONFIG": str(tmp_path / "none"),
        "WARROOM_SSH_COMMANDS": json.dumps(commands),
        "WARROOM_APPROVER_GROUPS": json.dumps({"ops": ["olga", "pavel"]}),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    POOL.close()
    store = Store.from_settings()
    yield store, state
    store.close()
    POOL.close()


def alert(instance: str) -> dict[str, object]:
    return {
        "status": "firing",
        "labels": {"alertname": "HostDiskFull", "instance": instance, "severity": "critical"},
        "annotations": {"summary": "/data is 97% full"},
        "fingerprint": uuid.uuid4().hex[:16],
    }


def test_host_disk_full_runbook_cleans_up_after_approval(host_env: tuple[Store, Path]) -> None:
    store, state = host_env
    firing = alert("db1")
    thread = FlowThread(runbook="host-disk-full", alert=firing)
    thread.start()
    incident = wait_for_incident(store, f"host-disk-full:{firing['fingerprint']}")
    gate = wait_for_gate(incident.id)
    assert gate.proposal == "cleanup_tmp"
    assert len(list((state / "junk").iterdir())) == 3  # nothing changed before the approval
    outcome = answer_gate(store, incident.id, approver="olga", code=code("olga"), reason="clear the cores")
    assert outcome.verdict == "granted"
    result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "resolved", result
    assert list((state / "junk").iterdir()) == []
    events = store.timeline(incident.id)
    kinds = [e.kind for e in events]
    assert store.get(incident.id).severity.value == "P2"  # the runbook's rule for critical alerts
    [disk] = [e for e in events if e.kind == "diagnostic.result" and e.text.startswith("disk ")]
    assert "1 filesystem(s) at or over 90% (worst 97%)" in disk.text
    assert (
        kinds.index("approval.granted")
        < kinds.index("mitigation.started")
        < kinds.index("mitigation.applied")
    )
    assert "verification.passed" in kinds
    dumped = json.dumps([e.model_dump(mode="json") for e in events])
    assert PASSPHRASE not in dumped


def test_an_injected_host_label_never_reaches_the_host(host_env: tuple[Store, Path]) -> None:
    store, state = host_env
    firing = alert("db1; rm -rf /")
    opened = POOL.opened
    thread = FlowThread(runbook="host-disk-full", alert=firing)
    thread.start()
    thread.finish()
    assert thread.error is not None and "params.host" in str(thread.error)
    incident = store.latest_for_key(f"host-disk-full:{firing['fingerprint']}")
    assert incident is not None
    [failed] = [e for e in store.timeline(incident.id) if e.kind == "run.failed"]
    assert "params.host" in failed.text and "does not match the pattern" in failed.text
    assert POOL.opened == opened  # no connection was ever made
    assert len(list((state / "junk").iterdir())) == 3


def test_a_partial_ssh_apply_is_not_recorded_as_applied_and_can_be_retried_after_approval(
    host_env: tuple[Store, Path], sshd: Sshd, tmp_path: Path
) -> None:
    store, state = host_env
    from tests.net import free_port

    def inventory(db2_port: int) -> None:
        hosts = {
            "db1": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port},
            "db2": {"ansible_host": "127.0.0.1", "ansible_port": db2_port},
        }
        doc = {"all": {"vars": {"ansible_user": sshd.user}, "children": {"db": {"hosts": hosts}}}}
        (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(doc))

    inventory(free_port())  # db2 answers nowhere: the cleanup reaches db1 only
    firing = alert("db")
    first = FlowThread(runbook="host-disk-full", alert=firing)
    first.start()
    incident = wait_for_incident(store, f"host-disk-full:{firing['fingerprint']}")
    wait_for_gate(incident.id)
    answer_gate(store, incident.id, approver="olga", code=code("olga"), reason="clear the cores")
    result = first.finish()
    assert result.outcome == "handed_back", result
    kinds = [e.kind for e in store.timeline(incident.id)]
    assert "mitigation.partial" in kinds and "mitigation.applied" not in kinds
    [partial] = [e for e in store.timeline(incident.id) if e.kind == "mitigation.partial"]
    assert "1 ok, 0 failed, 1 unreachable" in partial.text
    assert list((state / "junk").iterdir()) == []  # db1 was cleaned

    # db2 is back and its disk is still full: the humans start the runbook again; it asks again.
    inventory(sshd.port)
    (state / "df.txt").write_text(DF_FULL)
    second = FlowThread(runbook="host-disk-full", alert=firing)
    second.start()
    wait_for_gate(incident.id)  # the first run has ended: this gate is the second run's
    granted = answer_gate(store, incident.id, approver="pavel", code=code("pavel"), reason="db2 is back")
    assert granted.verdict == "granted"
    result = second.finish()
    assert result.outcome == "resolved", result
    applied = [e for e in store.timeline(incident.id) if e.kind == "mitigation.applied"]
    assert len(applied) == 1 and "2 ok, 0 failed, 0 unreachable" in applied[0].text
