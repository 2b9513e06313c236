"""Approvers: their keys (made on their own machines), their registration on the Warroom host, and
`warroom approve` (answering a waiting gate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import columns, fail, ledger_here, open_store, out, pairs, signer_or_code
from warroom.settings import get_settings

approvers = typer.Typer(
    help="Approvers: keys made on their own machines, registered on the Warroom host.", no_args_is_help=True
)


@approvers.command("enroll")
def approvers_enroll(
    name: str,
    key_out: Annotated[
        Path | None, typer.Option(help="Where to keep your private key (default: WARROOM_KEY_FILE)")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Make a new key over the old one")] = False,
) -> None:
    """On YOUR OWN machine: make your signing key pair here (the private half never leaves this file, mode
    0600) and print the public line an admin registers on the Warroom host."""
    from warroom.signing import SigningKeyError, make_key

    path = key_out or get_settings().key_file
    try:
        signer = make_key(path, name, replace=replace)
    except SigningKeyError as exc:
        fail(str(exc), 1)
    out.print(f"your private signing key: {path} (mode 0600; it stays on this machine)")
    out.print("give an admin this line; on the Warroom host they run")
    out.print(f"  warroom approvers register {name} --public-key '<the line>'")
    sys.stdout.write(signer.public_line() + "\n")


@approvers.command("register")
def approvers_register(
    name: str,
    public_key: Annotated[
        str | None, typer.Option(help="The line `warroom approvers enroll` printed on the person's machine")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="New codes and key; the old ones stop working")
    ] = False,
) -> None:
    """On the Warroom host: register NAME with their public key and give them one-time-code secrets (one
    for approving, one for acknowledging: shown once, never logged)."""
    from warroom.identity import EnrollmentError, register

    try:
        done = register(open_store(), get_settings(), name, public_key, replace=replace)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(
        f"{name} registered"
        + (f" with signing key {done.key}" if done.key else " (codes only, no signing key)")
    )
    out.print(f"Add these to {name}'s authenticator app (shown once, never logged):")
    for purpose, uri in done.uris.items():
        out.print(f"  for {purpose.value}:")
        sys.stdout.write(uri + "\n")


@approvers.command("rotate-key")
def approvers_rotate_key(
    name: str,
    public_key: Annotated[str, typer.Option(help="The new line from `warroom approvers enroll --replace`")],
) -> None:
    """Replace NAME's signing key: answers signed with the old one fail from now on, saying so."""
    from warroom.identity import EnrollmentError, rotate_key

    try:
        fp = rotate_key(open_store(), name, public_key)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(f"{name}'s signing key is now {fp}; the previous one is retired")


@approvers.command("revoke")
def approvers_revoke(
    name: str, reason: Annotated[str, typer.Option(help="Why; every refused answer says it")]
) -> None:
    """Revoke NAME: their key and codes count for nothing from now on."""
    from warroom.identity import EnrollmentError, revoke

    try:
        revoke(open_store(), name, reason)
    except EnrollmentError as exc:
        fail(str(exc), 1)
    out.print(f"{name} revoked: {reason}")


@approvers.command("list")
def approvers_list() -> None:
    """Registered approvers and their keys (current and retired)."""
    store = open_store()
    rows = []
    for name in store.approver_names():
        record = store.approver(name)
        assert record is not None
        state = f"revoked ({record.revoked_why})" if record.revoked_at else "active"
        keys = store.signing_keys(name)
        current = [k.fingerprint for k in keys if k.retired_at is None]
        rows.append([name, state, ", ".join(current) or "-", str(len(keys) - len(current))])
    out.print(columns(["NAME", "STATE", "KEY", "RETIRED KEYS"], rows) if rows else "no approvers registered")


def approve(
    incident_id: Annotated[str, typer.Argument(metavar="INC-N")],
    reason: Annotated[str, typer.Option(help="Why; recorded on the timeline")],
    as_: Annotated[
        str | None,
        typer.Option("--as", help="With --code: your name as registered. With a key: must be its owner"),
    ] = None,
    proposal: Annotated[str | None, typer.Option(help="Which proposal, when several wait")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Adjust a param: key=value")] = None,
    key: Annotated[Path | None, typer.Option(help="Your signing key (default: WARROOM_KEY_FILE)")] = None,
    code: Annotated[
        str | None, typer.Option(help="Answer with a one-time code instead of signing (asked for if needed)")
    ] = None,
) -> None:
    """Answer the approval gate waiting on an incident; print whether the answer counted and why.

    Signed with your own key, the answer covers the exact plan the gate shows, so nobody who reaches the
    Prefect API can change it on the way; without a key, a one-time code proves who you are."""
    from flows.answer import GateError, answer_gate

    signer, code = signer_or_code(key, as_, code, "one-time code")
    try:
        outcome = answer_gate(
            open_store() if ledger_here() else None,
            incident_id.upper(),
            signer=signer,
            approver=as_,
            code=code or "",
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
