"""The step registry's result contract: what a mitigation must say about what it did."""

from __future__ import annotations

import os
from pathlib import Path

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


def test_a_new_step_in_a_family_is_one_new_file_named_once_and_found_with_no_list_edited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    import textwrap

    family = tmp_path / "teamsteps"
    (family / "aws").mkdir(parents=True)
    (family / "__init__.py").write_text('"""The team\'s own steps."""\n')  # names no module
    (family / "aws" / "__init__.py").write_text("")
    (family / "aws" / "lambda_rollback.py").write_text(
        textwrap.dedent(
            '''
            from pydantic import BaseModel, ConfigDict

            from tasks.step import step
            from warroom.steps import ChangeResult, StepKind


            class Params(BaseModel):
                model_config = ConfigDict(extra="forbid")
                function: str


            @step("aws.lambda_rollback", StepKind.MITIGATION)
            def lambda_rollback(params: Params, dry_run: bool = False) -> ChangeResult:
                """Point the function's live alias at its previous version. Changes what production runs."""
                if dry_run:
                    return ChangeResult(applied=False, dry_run=True, summary=f"would roll {params.function}")
                return ChangeResult(applied=True, summary="rolled back", way_back="point it back")
            '''
        )
    )
    probe = (
        "from warroom.steps import all_steps; s = all_steps()['aws.lambda_rollback']; "
        "print(s.kind.value, s.fn.__name__, s.dry_run(s.params(function='f')).summary, s.summary)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(tmp_path), "WARROOM_STEP_MODULES": '["teamsteps"]'},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "mitigation lambda_rollback would roll f "
        "Point the function's live alias at its previous version. "
        "Changes what production runs."
    )


def test_a_step_lookup_reads_the_installed_packages_metadata_once_per_process() -> None:
    """Every step lookup scanned every installed package's metadata for step entry points (~12 ms, and
    hundreds of lookups when fifty gates are answered at once); the installed set is read once."""
    import sys

    from warroom.steps import get_step

    assert get_step("http.check") is not None
    opened: list[str] = []
    watching = True

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching and event == "open" and ".dist-info" in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        for _ in range(20):
            assert get_step("http.check") is not None
            assert get_step("kubernetes.rollback") is not None
    finally:
        watching = False  # an audit hook stays for the process's life: it stops looking here
    assert opened == []
