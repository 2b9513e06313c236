"""The `warroom` command as an on-call engineer runs it: a real process, real files, real ledger."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.flow_helpers import fresh_code
from tests.up_process import person
from warroom.incident import Severity, Status
from warroom.ledger import Store


def warroom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def test_validate_shipped_runbooks_exits_zero() -> None:
    result = warroom("runbooks", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_validate_prints_one_line_per_problem_and_exits_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ndescription: d\ndiagnostics:\n  - id: a\n    use: http.check\n    with: {url: 3}\n"
        "  - id: b\n    use: no.such\n"
    )
    result = warroom("runbooks", "validate", str(bad), str(REPO / "runbooks"))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:6: diagnostics[0].with.url: Input should be a valid string",
        f"{bad}:8: diagnostics[1].use: unknown step 'no.such' (known: "
        + result.stdout.split("(known: ")[1].split(")")[0]
        + ")",
    ]
    assert "Traceback" not in result.stderr


def test_validate_a_yaml_syntax_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: 'unterminated\n")
    result = warroom("runbooks", "validate", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{bad}:") and ": yaml: syntax error" in result.stdout
    assert "Traceback" not in result.stderr


def test_runbooks_list_and_show_json() -> None:
    listed = json.loads(warroom("runbooks", "list", "--json").stdout)
    names = [r["name"] for r in listed["runbooks"]]
    assert names[0] == "k8s-bad-deploy" and "host-disk-full" in names
    shown = json.loads(warroom("runbooks", "show", "k8s-bad-deploy", "--json").stdout)
    assert shown["mitigations"][0]["use"] == "kubernetes.rollback"
    assert shown["mitigations"][0]["approval"]["timeout"] == "15m"


def test_incidents_list_and_show(tmp_path: Path) -> None:
    env = {"WARROOM_HOME": str(tmp_path / "h")}
    store = Store(f"sqlite:///{tmp_path / 'h' / 'warroom.db'}")
    a = store.open_or_attach("a", title="checkout down", severity=Severity.P1, service="checkout").incident
    store.open_or_attach("b", title="slow search", severity=Severity.P3)
    store.set_status(a.id, Status.TRIAGED, actor="alice")
    store.close()

    listed = json.loads(warroom("incidents", "list", "--json", env=env).stdout)
    assert listed["version"] == 1
    assert [i["id"] for i in listed["incidents"]] == ["INC-2", "INC-1"]
    only = json.loads(warroom("incidents", "list", "--severity", "P1", "--json", env=env).stdout)
    assert [i["id"] for i in only["incidents"]] == ["INC-1"]
    triaged = json.loads(warroom("incidents", "list", "--status", "triaged", "--json", env=env).stdout)
    assert [i["title"] for i in triaged["incidents"]] == ["checkout down"]

    shown = json.loads(warroom("incidents", "show", "INC-1", "--json", env=env).stdout)
    assert shown["incident"]["status"] == "triaged"
    assert [e["kind"] for e in shown["timeline"]] == ["incident.opened", "status.changed"]
    text = warroom("incidents", "show", "INC-1", env=env).stdout
    assert "INC-1 P1 triaged: checkout down" in text and "status detected -> triaged" in text

    missing = warroom("incidents", "show", "INC-99", env=env)
    assert missing.returncode == 1 and "no incident INC-99" in missing.stderr


def test_unreachable_database_is_one_line_without_the_password() -> None:
    result = warroom(
        "incidents", "list", env={"WARROOM_DATABASE_URL": "postgresql+psycopg://u:pa55word@127.0.0.1:9/x"}
    )
    assert result.returncode == 2
    assert "pa55word" not in result.stderr + result.stdout
    assert result.stderr.strip().count("\n") == 0
    assert "cannot reach database postgresql+psycopg://u:***@127.0.0.1:9/x" in result.stderr


def test_steps_list_and_show_say_what_a_runbook_author_needs() -> None:
    listed = json.loads(warroom("steps", "list", "--json").stdout)
    steps = {s["name"]: s for s in listed["steps"]}
    rollback = steps["kubernetes.rollback"]
    assert rollback["kind"] == "mitigation" and rollback["implemented"] and rollback["dry_run"]
    assert rollback["result"]["kind"] == "ChangeResult"
    assert {"applied", "partial", "way_back"} <= {f["name"] for f in rollback["result"]["fields"]}
    assert steps["http.check"]["result"]["kind"] == "CheckResult"
    assert steps["flags.disable"]["implemented"] and steps["flags.disable"]["dry_run"]
    # Every mitigation says what it did in the registry's terms: the flow reads nothing else.
    assert all(s["result"]["kind"] == "ChangeResult" for s in steps.values() if s["kind"] == "mitigation")
    declared = [s["name"] for s in steps.values() if not s["implemented"]]
    text = warroom("steps", "list").stdout
    for name in declared:
        assert re.search(rf"^{re.escape(name)}\s.*NO \(declared\)", text, re.M)
    shown = warroom("steps", "show", "kubernetes.scale").stdout
    assert "kubernetes.scale (mitigation)" in shown
    assert re.search(r"^  replicas: int \| None \(default None\)", shown, re.M)
    missing = warroom("steps", "show", "nope.nothing")
    assert missing.returncode == 1 and "no step named 'nope.nothing'" in missing.stderr


def test_ack_assign_and_action_items_from_the_command_line(tmp_path: Path) -> None:
    env = {"WARROOM_HOME": str(tmp_path / "h")}
    store = Store(f"sqlite:///{tmp_path / 'h' / 'warroom.db'}")
    inc = store.open_or_attach("a", title="checkout down", severity=Severity.P1).incident
    store.close()
    alice, _ = person("alice", {**os.environ, **env}, tmp_path / "alice-laptop")
    _, bob = person("bob", {**os.environ, **env}, tmp_path / "bob-laptop")

    # Finding 4: a typed name alone took the incident (and command). Now it proves nothing.
    typed = warroom("ack", inc.id, "--as", "mallory", "--code", "123456", env=env)
    assert typed.returncode == 1 and "mallory is not enrolled" in typed.stderr
    as_other = warroom("ack", inc.id, "--as", "bob", env=alice)  # alice's key, bob's name
    assert as_other.returncode == 2 and "is alice's: it signs only as alice, not as bob" in as_other.stderr
    acked = warroom("ack", inc.id, env=alice)  # signed with her own key
    assert (
        acked.returncode == 0
        and "acknowledged by alice" in acked.stdout
        and "commander: alice" in acked.stdout
    ), acked.stdout + acked.stderr
    again = warroom("ack", inc.id, "--as", "bob", "--code", fresh_code(bob["acknowledge"]), env=env)
    assert "acknowledged before" in again.stdout and "commander: alice" in again.stdout
    store = Store(f"sqlite:///{tmp_path / 'h' / 'warroom.db'}")
    refused = [e.text for e in store.timeline(inc.id) if e.kind == "incident.acknowledge_refused"]
    store.close()
    assert len(refused) == 1 and "as mallory from the CLI refused" in refused[0]
    assigned = warroom(  # alice commands: her key proves it is she who assigns; dan is in no schedule
        "incidents", "assign", inc.id, "--comms", "carol", "--sme", "dan", "--force", env=alice
    )
    assert assigned.returncode == 0 and "comms carol" in assigned.stdout and "SMEs dan" in assigned.stdout

    added = warroom(
        "actions",
        "add",
        inc.id,
        "Add a canary",
        "--as",
        "alice",
        "--owner",
        "sarah",
        "--due",
        "2020-01-02",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    warroom("actions", "add", inc.id, "Page earlier", "--as", "alice", env=env)
    bad = warroom("actions", "add", inc.id, "x", "--as", "alice", "--due", "next week", env=env)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    overdue = json.loads(warroom("actions", "list", "--overdue", "--json", env=env).stdout)["action_items"]
    assert [(i["title"], i["owner"], i["overdue"]) for i in overdue] == [("Add a canary", "sarah", True)]
    done = warroom("actions", "done", str(overdue[0]["id"]), "--as", "sarah", env=env)
    assert done.returncode == 0 and "done" in done.stdout
    left = json.loads(warroom("actions", "list", "--open", "--json", env=env).stdout)["action_items"]
    assert [i["title"] for i in left] == ["Page earlier"]

    shown = json.loads(warroom("incidents", "show", inc.id, "--json", env=env).stdout)
    assert shown["incident"]["acknowledged_at"] is not None
    assert shown["incident"]["roles"]["commander"] == "alice" and shown["incident"]["roles"]["smes"] == [
        "dan"
    ]
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds.count("incident.acknowledged") == 1 and kinds.count("action_item.added") == 2
    assert "action_item.updated" in kinds
