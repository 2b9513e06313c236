"""The step registry's result contract: what a mitigation must say about what it did."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tasks.ssh import FanoutChange, FanoutResult, HostResult, Outcome
from warroom.steps import ChangeResult, StepKind, StepSpec, register


class Params(BaseModel):
    target: str


class Plain(BaseModel):
    applied: bool


def test_only_a_whole_real_change_counts_as_made() -> None:
    assert ChangeResult(applied=True).made
    assert not ChangeResult(applied=True, partial=True).made
    assert not ChangeResult(applied=True, dry_run=True).made
    assert not ChangeResult(applied=False).made


def test_the_registry_refuses_a_mitigation_whose_result_is_not_a_change() -> None:
    with pytest.raises(TypeError, match="a mitigation returns a ChangeResult"):
        register(StepSpec("test.plain", StepKind.MITIGATION, Params, Plain, "x"))
    with pytest.raises(TypeError, match="a diagnostic returns a StepResult"):
        register(StepSpec("test.plain", StepKind.DIAGNOSTIC, Params, Plain, "x"))


def _fanout(*statuses: Outcome) -> FanoutResult:
    hosts = [HostResult(host=f"h{i}", status=s) for i, s in enumerate(statuses)]
    count = {o: statuses.count(o) for o in Outcome}
    return FanoutResult(
        command="c",
        hosts=hosts,
        ok=count[Outcome.OK],
        failed=count[Outcome.FAILED],
        unreachable=count[Outcome.UNREACHABLE],
    )


@pytest.mark.parametrize(
    ("statuses", "made", "partial"),
    [
        ((Outcome.OK, Outcome.OK), True, False),
        ((Outcome.OK, Outcome.FAILED), False, True),
        ((Outcome.OK, Outcome.UNREACHABLE), False, True),
        ((Outcome.FAILED, Outcome.UNREACHABLE), False, False),
        ((Outcome.FAILED,), False, False),
    ],
)
def test_a_change_on_many_hosts_is_made_only_on_all_of_them(
    statuses: tuple[Outcome, ...], made: bool, partial: bool
) -> None:
    change = FanoutChange.of(_fanout(*statuses))
    assert (change.made, change.partial) == (made, partial)
