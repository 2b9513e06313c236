"""Making an AWS change safely: refusals and AWS errors before the write leave a result that says nothing
changed and why; a write whose answer was lost says the outcome is unknown; after the write, the change is
followed until it settles or the wait runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from tasks.aws.client import AwsError
from tasks.aws.models import AwsChange
from warroom.duration import format_duration

POLL_SECONDS = 3.0
UNKNOWN_OUTCOME = {"ReadTimeoutError", "ConnectionClosedError"}  # sent, but no answer came back


class Refused(Exception):
    """The change is not made, for a reason the on-call engineer can act on."""


def guarded(resource: str, dry_run: bool, change: Callable[[], AwsChange]) -> AwsChange:
    """Run a change; refusals and AWS's errors become a result that says nothing was changed and why."""
    try:
        return change()
    except Refused as exc:
        return AwsChange(
            resource=resource,
            applied=False,
            dry_run=dry_run,
            summary=f"{exc}; nothing changed",
            error="refused",
            way_back="nothing changed",
        )
    except AwsError as exc:
        unknown = exc.code in UNKNOWN_OUTCOME
        return AwsChange(
            resource=resource,
            applied=False,
            dry_run=dry_run,
            summary=f"{exc}; "
            + ("the change may or may not have been made" if unknown else "nothing changed"),
            error=exc.code,
            way_back="unknown: first look whether the change was made" if unknown else "nothing changed",
        )


def follow(result: AwsChange, wait: timedelta, look: Callable[[], tuple[bool, bool, str]]) -> AwsChange:
    """Poll ``look`` (settled, failed, state) until the change settles, fails or ``wait`` runs out."""
    if wait.total_seconds() <= 0:
        result.state = "not waited for"
        return result
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        try:
            settled, failed, state = look()
        except AwsError as exc:  # the change is made; only following it failed
            result.state = f"could not follow it: {exc}"
            result.summary += f"; {result.state}"
            return result
        if settled or failed or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    result.ready, result.state = settled, state
    if settled:
        result.summary += f"; settled: {state}"
    else:
        result.summary += (
            f"; {'failed' if failed else f'not settled within {format_duration(wait)}'}: {state}"
        )
    return result
