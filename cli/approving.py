"""Approvers: `warroom approvers enroll` and `warroom approve` (answering a waiting gate)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.common import fail, open_store, out, pairs

approvers = typer.Typer(help="Approvers and their one-time codes.", no_args_is_help=True)


@approvers.command("enroll")
def approvers_enroll(
    name: str,
    replace: Annotated[
        bool, typer.Option("--replace", help="Issue a new secret (the old one stops working)")
    ] = False,
) -> None:
    """Create NAME's one-time-code secret and print the URI to add to an authenticator app (shown once)."""
    from flows.approval import EnrollmentError, enroll

    try:
        uri = enroll(name, replace=replace)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(f"Add this to {name}'s authenticator app (it is shown once, and never logged):")
    sys.stdout.write(uri + "\n")


def approve(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    as_: Annotated[str, typer.Option("--as", help="Your name as enrolled")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the timeline")],
    proposal: Annotated[str | None, typer.Option(help="Which proposal, when several wait")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Adjust a param: key=value")] = None,
    code: Annotated[str | None, typer.Option(help="One-time code (asked for when missing)")] = None,
) -> None:
    """Answer the approval gate waiting on an incident; print whether the answer counted and why."""
    from flows.answer import GateError, answer_gate

    store = open_store()
    otp = code or typer.prompt(f"one-time code for {as_}", hide_input=True)
    try:
        outcome = answer_gate(
            store,
            incident_id.upper(),
            approver=as_,
            code=otp,
            reason=reason,
            decision="reject" if reject else "approve",
            proposal=proposal,
            adjust=pairs(set_, "--set"),
        )
    except GateError as exc:
        fail(str(exc), 1)
    out.print(f"{incident_id.upper()} {outcome.proposal}: {outcome.verdict}: {outcome.text}")
    if outcome.verdict not in ("granted", "rejected"):
        raise typer.Exit(3)
