"""The command line starts fast: a command's module is imported only when that command runs, and a command
that does not talk to Prefect never imports it (issue 26: `warroom --help` took seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.main import COMMANDS
from tests.conftest import REPO

HEAVY = ("prefect", "sqlalchemy", "jinja2", "httpx", "paramiko", "boto3", "sandbox", "cli")

# Runs the CLI in this process and, as it exits, prints which of the HEAVY packages were imported.
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
def report():
    tops = {{m.split(".")[0] for m in sys.modules}} | {{m for m in sys.modules if m.startswith("cli.")}}
    sys.stderr.write("IMPORTED " + json.dumps(sorted(m for m in tops if m.split(".")[0] in heavy)) + "\\n")
atexit.register(report)
sys.argv = ["warroom", *{args!r}]
from cli.main import main
main()
"""


def _imported(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=list(args))],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "WARROOM_HOME": str(home), "COLUMNS": "200"},
        timeout=120,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED "))
    return done, set(json.loads(line.removeprefix("IMPORTED ")))


def test_help_lists_every_command_and_imports_none_of_them(tmp_path: Path) -> None:
    done, imported = _imported(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    for name, entry in COMMANDS.items():
        assert name in done.stdout and entry.summary.split(":")[0] in done.stdout
    assert imported == {"cli", "cli.main"}, f"`warroom --help` imported {sorted(imported)}"


def test_a_command_imports_only_its_own_module_and_shows_its_own_help(tmp_path: Path) -> None:
    done, imported = _imported(tmp_path, "incidents", "--help")
    assert done.returncode == 0, done.stderr
    # resolve is cli.postmortem's, added to the group
    assert "resolve" in done.stdout and "Incidents, newest first." in done.stdout
    assert not {"cli.demo", "cli.running", "cli.scaling", "sandbox", "prefect"} & imported, sorted(imported)
    ack, _ = _imported(tmp_path, "ack", "--help")
    assert "the first acknowledgement stops the time-to-acknowledge clock" in " ".join(ack.stdout.split())


def test_commands_that_do_not_talk_to_prefect_do_not_import_it(tmp_path: Path) -> None:
    for args in (["incidents", "list"], ["runbooks", "validate"], ["steps", "list"], ["oncall", "check"]):
        done, imported = _imported(tmp_path, *args)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        assert "prefect" not in imported, f"`warroom {' '.join(args)}` imported Prefect"
    _, listing = _imported(tmp_path, "incidents", "list")
    assert not {"jinja2", "httpx", "paramiko", "sandbox"} & listing, sorted(listing)


def test_no_command_module_imports_prefect_before_the_cli_has_given_it_the_local_login() -> None:
    """Importing Prefect reads its settings once; the CLI sets the login of `warroom up`'s server in its
    callback, which runs after the command's module is imported and before the command."""
    probe = (
        "import sys; from cli.main import COMMANDS, load; [load(n) for n in COMMANDS]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect')[:3])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_an_unknown_command_is_refused_with_the_list_to_choose_from(tmp_path: Path) -> None:
    done, imported = _imported(tmp_path, "incident", "list")
    assert done.returncode == 2 and "No such command 'incident'" in done.stderr
    assert imported == {"cli", "cli.main"}
