"""Roles with rules: the commander assigns (anyone while nobody commands), a new commander is a handover on
the timeline, a name nobody knows is refused unless forced, and the commander holds no other role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_cli import warroom
from tests.up_process import person
from warroom.events import EventKind
from warroom.incident import Role, Severity
from warroom.ledger import Store
from warroom.roles import AssignmentRefused, Wanted, assign_roles, known_people
from warroom.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home", oncall_dir=REPO / "oncall", approver_groups={"dba": ["erin"]}
    )  # alice, bob, carol and dana from the SRE schedule; erin from a group


def _open(store: Store) -> int:
    return store.open_or_attach("k", title="checkout down", severity=Severity.P1).incident.number


def test_only_the_commander_assigns_roles_and_anyone_while_nobody_commands(
    store: Store, settings: Settings
) -> None:
    number = _open(store)
    known = known_people(store, settings, store.get(number))
    assert {"alice", "bob", "carol", "dana", "erin"} <= known
    assign_roles(store, number, "bob", [Wanted(Role.COMMANDER, "alice")], known)  # nobody commanded
    with pytest.raises(AssignmentRefused, match="alice commands INC-1: only they assign its roles"):
        assign_roles(store, number, "bob", [Wanted(Role.COMMANDER, "bob")], known)
    with pytest.raises(AssignmentRefused, match="only they assign"):
        assign_roles(store, number, "carol", [Wanted(Role.RESPONDER, "carol")], known)
    incident = assign_roles(store, number, "alice", [Wanted(Role.RESPONDER, "carol")], known)
    assert incident.roles.commander == "alice" and incident.roles.responders == ["carol"]
    assert [e.data["person"] for e in store.timeline(number) if e.kind == EventKind.ROLE_ASSIGNED] == [
        "alice",
        "carol",
    ]


def test_a_new_commander_is_a_handover_on_the_timeline_and_leaves_their_other_role(
    store: Store, settings: Settings
) -> None:
    number = _open(store)
    known = known_people(store, settings, store.get(number))
    assign_roles(
        store, number, "alice", [Wanted(Role.COMMANDER, "alice"), Wanted(Role.RESPONDER, "bob")], known
    )
    incident = assign_roles(store, number, "alice", [Wanted(Role.COMMANDER, "bob")], known)
    assert incident.roles.commander == "bob" and incident.roles.responders == []
    [handover] = [e for e in store.timeline(number) if e.kind == EventKind.COMMAND_HANDED_OVER]
    assert handover.data == {"from": "alice", "to": "bob", "by": "alice"} and handover.actor == "alice"
    assert "command handed over from alice to bob by alice" == handover.text
    with pytest.raises(AssignmentRefused, match="only they assign"):  # alice no longer commands
        assign_roles(store, number, "alice", [Wanted(Role.SME, "carol")], known)


def test_a_person_nobody_knows_is_refused_unless_forced(store: Store, settings: Settings) -> None:
    number = _open(store)
    known = known_people(store, settings, store.get(number))
    with pytest.raises(AssignmentRefused, match="'alcie' is in no on-call schedule"):
        assign_roles(store, number, "bob", [Wanted(Role.COMMANDER, "alcie")], known)
    assert store.get(number).roles.commander is None  # refused means nothing assigned
    incident = assign_roles(store, number, "bob", [Wanted(Role.SME, "vendor-frank")], known, force=True)
    assert incident.roles.smes == ["vendor-frank"]
    [forced] = [e for e in store.timeline(number) if e.kind == EventKind.NOTE]
    assert forced.data == {"forced": ["vendor-frank"]} and "(forced)" in forced.text


def test_the_commander_is_not_also_a_responder_or_the_comms_lead(store: Store, settings: Settings) -> None:
    number = _open(store)
    known = known_people(store, settings, store.get(number))
    assign_roles(store, number, "alice", [Wanted(Role.COMMANDER, "alice")], known)
    for role in (Role.RESPONDER, Role.SME, Role.COMMS_LEAD):
        with pytest.raises(AssignmentRefused, match="the commander holds no other role"):
            assign_roles(store, number, "alice", [Wanted(role, "alice")], known)
    with pytest.raises(AssignmentRefused, match="the commander holds no other role"):
        assign_roles(
            store, number, "alice", [Wanted(Role.COMMANDER, "bob"), Wanted(Role.RESPONDER, "bob")], known
        )


def test_assigning_from_the_cli_is_proven_and_refused_for_a_typed_name(tmp_path: Path) -> None:
    env = {"WARROOM_HOME": str(tmp_path / "h"), "WARROOM_ONCALL_DIR": str(REPO / "oncall")}
    store = Store(f"sqlite:///{tmp_path / 'h' / 'warroom.db'}")
    inc = store.open_or_attach("a", title="checkout down", severity=Severity.P1).incident
    store.close()
    alice, _ = person("alice", {**os.environ, **env}, tmp_path / "alice-laptop")
    typed = warroom(
        "incidents",
        "assign",
        inc.id,
        "--as",
        "mallory",
        "--code",
        "123456",
        "--commander",
        "mallory",
        env=env,
    )
    assert typed.returncode == 1 and "roles not assigned: mallory is not enrolled" in typed.stderr
    taken = warroom("incidents", "assign", inc.id, "--commander", "alice", "--comms", "carol", env=alice)
    assert taken.returncode == 0 and "commander alice, comms carol" in taken.stdout, taken.stderr
    typo = warroom("incidents", "assign", inc.id, "--responder", "bbo", env=alice)
    assert typo.returncode == 1 and "'bbo' is in no on-call schedule" in typo.stderr
