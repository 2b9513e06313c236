"""What every ``warroom`` command shares: the consoles, failing with a message, the ledger, JSON out."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from warroom.settings import get_settings

if TYPE_CHECKING:  # imported where used: a command that needs no ledger or runbook loads neither
    from warroom.ledger import Store
    from warroom.runbook import Catalogue
    from warroom.signing import Signer

# Written to a pipe or a file, a line stays whole (a path or URL cut at 80 columns cannot be copied); on a
# terminal, rich wraps at its width.
out = Console(highlight=False, markup=False, soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=not sys.stderr.isatty())

JSON_VERSION = 1


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def show_keeper_lines() -> None:
    """Show what the keeper does (a gate re-entered, a run written off, a page escalated, a room told) on the
    console of the long-running commands. Python shows only warnings from a library's loggers by default, so
    these lines were lost, and with them the one account of a recovery on the machine that made it."""
    logging.getLogger("warroom.keeper").setLevel(logging.INFO)
    if not logging.getLogger().handlers:  # Prefect's console handler is the root's once Prefect is imported
        logging.basicConfig(format="%(asctime)s | %(levelname)-7s | %(name)s - %(message)s")


def open_store() -> Store:
    from warroom.ledger import Store, StoreError

    try:
        return Store.from_settings()
    except StoreError as exc:
        fail(str(exc))


def ledger_here() -> bool:
    """Does this machine reach Warroom's ledger? (A laptop answering gates through Prefect does not.)"""
    settings = get_settings()
    return settings.database_url is not None or (settings.home / "warroom.db").exists()


def own_signer(key: Path | None, as_: str | None, *, required: bool) -> Signer | None:
    """Your signing key (``--key``, else WARROOM_KEY_FILE, else the default path), and only yours: a
    ``--as`` naming anyone but the key's owner is refused, never used to pick someone's key."""
    from warroom.signing import SigningKeyError, load_signer

    path = key or get_settings().key_file
    if key is None and not path.exists():
        if required:
            fail(
                f"no signing key at {path}: make yours on your own machine with "
                "`warroom approvers enroll NAME` and have an admin register its public line",
                2,
            )
        return None
    try:
        signer = load_signer(path)
    except SigningKeyError as exc:
        fail(str(exc), 2)
    if as_ is not None and as_ != signer.name:
        fail(f"the key at {path} is {signer.name}'s: it signs only as {signer.name}, not as {as_}", 2)
    return signer


def signer_or_code(
    key: Path | None, as_: str | None, code: str | None, what: str
) -> tuple[Signer | None, str | None]:
    """Your own key, or ``--as NAME`` with a one-time ``what`` code (asked for when not given)."""
    signer = None if code is not None else own_signer(key, as_, required=key is not None)
    if signer is None:
        if as_ is None:
            fail(
                f"no signing key at {get_settings().key_file}: give --as NAME and your {what}, "
                "or make your key with `warroom approvers enroll NAME`",
                2,
            )
        if code is None:
            code = typer.prompt(f"{what} for {as_}", hide_input=True)
    return signer, code


def catalogue_of(paths: list[Path] | None) -> Catalogue:
    from warroom.runbook import load_catalogue

    return load_catalogue(paths or [get_settings().runbooks_dir])


def dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    """``key=value`` options; values are JSON when they parse as JSON (``6`` is a number), else text."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            fail(f"{what} takes key=value, not {item!r}", 2)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def columns(headers: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns, like kubectl get: fast for thousands of rows and easy to grep."""
    widths = [max([len(h)] + [len(r[n]) for r in rows]) for n, h in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"
