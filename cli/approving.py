"""Approvers: `warroom approvers enroll` and `warroom approve` (answering a waiting gate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, open_store, out, pairs
from warroom.settings import get_settings

approvers = typer.Typer(help="Approvers and their one-time codes.", no_args_is_help=True)


@approvers.command("enroll")
def approvers_enroll(
    name: str,
    replace: Annotated[
        bool, typer.Option("--replace", help="Issue new credentials (the old ones stop working)")
    ] = False,
    key_out: Annotated[
        Path | None, typer.Option(help="Where to write the private signing key (default: in $WARROOM_HOME)")
    ] = None,
) -> None:
    """Enroll NAME: a one-time-code secret (sealed in the ledger; the URI for an authenticator app is shown
    once) and a signing key for `warroom approve` (private half to a 0600 file, public half in the ledger)."""
    from warroom.identity import EnrollmentError, enroll

    try:
        enrolled = enroll(open_store(), get_settings(), name, replace=replace, key_out=key_out)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(f"signing key for {name}: {enrolled.key_file} (mode 0600; give it to {name} alone)")
    out.print(f"Add this to {name}'s authenticator app (it is shown once, and never logged):")
    sys.stdout.write(enrolled.uri + "\n")


def approve(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    as_: Annotated[str, typer.Option("--as", help="Your name as enrolled")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the timeline")],
    proposal: Annotated[str | None, typer.Option(help="Which proposal, when several wait")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Adjust a param: key=value")] = None,
    key: Annotated[
        Path | None, typer.Option(help="Your signing key (default: the one enrollment wrote, if it is there)")
    ] = None,
    code: Annotated[
        str | None, typer.Option(help="Answer with a one-time code instead of signing (asked for if needed)")
    ] = None,
) -> None:
    """Answer the approval gate waiting on an incident; print whether the answer counted and why.

    With your signing key the answer is signed over the exact plan the gate shows, so nobody who reaches
    the Prefect API can change it on the way; without it, a one-time code proves who you are."""
    from flows.answer import GateError, answer_gate
    from warroom.identity import has_key_file, key_file

    settings = get_settings()
    store = open_store()
    signing_key = key or key_file(settings, as_)
    if code is None and not has_key_file(signing_key):
        if key is not None:
            fail(f"cannot read the signing key {key}", 2)
        code = typer.prompt(f"one-time code for {as_}", hide_input=True)
    try:
        outcome = answer_gate(
            store,
            incident_id.upper(),
            approver=as_,
            code=code or "",
            key_file=None if code else signing_key,
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
