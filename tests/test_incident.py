"""The incident model: the status machine, ids, roles."""

from __future__ import annotations

import itertools

import pytest

from warroom.incident import (
    TRANSITIONS,
    IllegalTransition,
    Role,
    Roles,
    Status,
    check_transition,
    parse_incident_ref,
)

FORWARD = [
    Status.DETECTED,
    Status.TRIAGED,
    Status.INVESTIGATING,
    Status.MITIGATING,
    Status.MONITORING,
    Status.RESOLVED,
    Status.CLOSED,
]


def test_the_forward_path_is_allowed() -> None:
    for current, wanted in itertools.pairwise(FORWARD):
        check_transition("INC-1", current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (Status.DETECTED, Status.MITIGATING),
        (Status.TRIAGED, Status.CLOSED),
        (Status.CLOSED, Status.RESOLVED),
        (Status.INVESTIGATING, Status.DETECTED),
        (Status.RESOLVED, Status.MONITORING),
    ],
)
def test_illegal_transitions_raise_a_clear_error(current: Status, wanted: Status) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("INC-7", current, wanted)
    assert f"INC-7: cannot go from {current.value} to {wanted.value}" in str(info.value)


def test_failed_mitigation_goes_back_to_investigating_and_resolved_can_reopen() -> None:
    check_transition("INC-1", Status.MITIGATING, Status.INVESTIGATING)
    check_transition("INC-1", Status.MONITORING, Status.INVESTIGATING)
    check_transition("INC-1", Status.RESOLVED, Status.INVESTIGATING)


def test_closed_is_final_and_every_status_has_rules() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert TRANSITIONS[Status.CLOSED] == frozenset()
    assert [s for s in Status if not s.is_open] == [Status.RESOLVED, Status.CLOSED]


@pytest.mark.parametrize(("ref", "number"), [("INC-42", 42), ("inc-7", 7), ("12", 12)])
def test_incident_refs(ref: str, number: int) -> None:
    assert parse_incident_ref(ref) == number


def test_bad_incident_ref() -> None:
    with pytest.raises(ValueError, match="not an incident id"):
        parse_incident_ref("INC-x")


def test_roles_single_and_many() -> None:
    roles = Roles().with_assignment(Role.COMMANDER, "a").with_assignment(Role.COMMANDER, "b")
    roles = roles.with_assignment(Role.SME, "dba").with_assignment(Role.SME, "dba")
    assert roles.commander == "b" and roles.smes == ["dba"]
