"""The step registry's result contract: what a mitigation must say about what it did."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tasks.ssh import FanoutChange, FanoutResult, HostResult, HostStatus
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


def _fanout(*statuses: HostStatus) -> FanoutResult:
    hosts = [HostResult(host=f"h{i}", status=s) for i, s in enumerate(statuses)]
    count = {o: statuses.count(o) for o in HostStatus}
    return FanoutResult(
        command="c",
        hosts=hosts,
        ok=count[HostStatus.OK],
        failed=count[HostStatus.FAILED],
        unreachable=count[HostStatus.UNREACHABLE],
    )


@pytest.mark.parametrize(
    ("statuses", "made", "partial"),
    [
        ((HostStatus.OK, HostStatus.OK), True, False),
        ((HostStatus.OK, HostStatus.FAILED), False, True),
        ((HostStatus.OK, HostStatus.UNREACHABLE), False, True),
        ((HostStatus.FAILED, HostStatus.UNREACHABLE), False, False),
        ((HostStatus.FAILED,), False, False),
    ],
)
def test_a_change_on_many_hosts_is_made_only_on_all_of_them(
    statuses: tuple[HostStatus, ...], made: bool, partial: bool
) -> None:
    change = FanoutChange.of(_fanout(*statuses))
    assert (change.made, change.partial) == (made, partial)
