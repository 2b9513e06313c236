"""`warroom gameday FILE...`: saved alerts replayed against the team's runbooks, scored against their
expectations; `--check` makes it a runbook test for CI (exit 1 on a miss, `--junit` for the CI system).
Diagnostics run for real (in the sandbox with --sandbox); mitigations only dry-run; no approval is asked
and nothing is written to the ledger."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, out
from warroom.settings import get_settings


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        found += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return found


def gameday(
    files: Annotated[list[Path], typer.Argument(help="Case files (or folders of them): alert + expect")],
    check: Annotated[bool, typer.Option(help="Exit 1 when any case misses its expectations")] = False,
    junit_out: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here")] = None,
    sandbox: Annotated[
        bool, typer.Option(help="Diagnose against a sandbox cluster per case, not real systems")
    ] = False,
) -> None:
    """Replay saved alerts: which runbook matched, severity, params, diagnostics, which mitigations would
    be proposed (dry run) and why the others would not, time to each phase."""
    from flows.gameday import junit, load_case, play
    from warroom.runbook import load_catalogue

    settings = get_settings()
    catalogue = load_catalogue([settings.runbooks_dir])
    try:
        cases = [load_case(f) for f in _files(files)]
    except ValueError as exc:
        fail(str(exc), 2)
    if not cases:
        fail("no case files given", 2)
    started = time.perf_counter()
    scores = []
    for case in cases:
        with ExitStack() as stack:
            if sandbox and case.sandbox and case.diagnose:
                _sandbox(stack, case.sandbox)
            score = play(case, catalogue, get_settings())
        scores.append(score)
        _print(score)
    took = time.perf_counter() - started
    failed = [s for s in scores if not s.passed]
    blind = sum(1 for s in scores if s.runbook is not None and not s.diagnosed)
    without = f"; {blind} did not run their diagnostics (diagnose: false)" if blind else ""
    out.print(f"{len(scores) - len(failed)} of {len(scores)} case(s) as expected{without} ({took:.1f} s)")
    if junit_out is not None:
        junit_out.write_text(junit(scores, took), encoding="utf-8")
    if check and failed:
        raise typer.Exit(1)


def _sandbox(stack: ExitStack, behaviour: str) -> None:
    """A fresh sandbox cluster for one case: prod/web whose newest revision (7 minutes old) behaves so."""
    from sandbox.kube import FakeCluster, rollout_scene, running_cluster

    cluster = FakeCluster()
    rollout_scene(cluster, state=behaviour, minutes_ago=7, revisions=3)
    kube = stack.enter_context(
        running_cluster(cluster, Path(stack.enter_context(tempfile.TemporaryDirectory())))
    )
    before = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(kube.kubeconfig)
    get_settings.cache_clear()

    def restore() -> None:
        if before is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = before
        get_settings.cache_clear()

    stack.callback(restore)
    stack.callback(lambda: _no_writes(cluster))


def _no_writes(cluster: object) -> None:
    """A game day changes nothing: every write the sandbox saw was a dry run."""
    queries = getattr(cluster, "queries", [])
    requests = getattr(cluster, "requests", [])
    for (method, _path), query in zip(requests, queries, strict=False):
        if method in ("POST", "PUT", "PATCH", "DELETE") and "dryRun=All" not in query:
            fail(f"game day made a real {method} {_path}: a bug, report it", 3)


def _print(score: object) -> None:
    from flows.gameday import Score

    assert isinstance(score, Score)
    out.print(
        f"{'PASS' if score.passed else 'FAIL'} {score.case}: runbook {score.runbook or '-'}, "
        f"severity {score.severity or '-'}"
    )
    if score.runbook is not None and not score.diagnosed:
        out.print("  diagnostics not run (diagnose: false): this case proves the match and triage only")
    for name, said in score.diagnostics.items():
        out.print(f"  diagnostic {name} [{score.outcomes.get(name, '?')}]: {said}", soft_wrap=True)
    for name, plan in score.proposed.items():
        out.print(f"  would propose {name} (approval simulated, not asked): {plan}", soft_wrap=True)
    for name, why in score.not_proposed.items():
        out.print(f"  not proposed {name}: {why}", soft_wrap=True)
    if score.phases:
        reached = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in score.phases.items())
        out.print(f"  time to each phase: {reached}")
    for problem in score.problems:
        out.print("  MISS " + problem.replace("\n", "\n       "), soft_wrap=True)
