"""Answers through the Prefect UI's resume call, on `warroom up`'s embedded Prefect, loaded or not.

`warroom up` runs as a person starts it (its own Prefect server, its receiver, the runbooks served). One
run of a capacity runbook is started as the UI's custom-run form starts it, and its gate is answered
--answers times exactly as the UI's Submit answers it (`POST /api/flow_runs/ID/resume`, no retry): every
answer but the last with a wrong code (refused, the gate asks again), the last with the right one. With
--load, `stress-ng --cpu 2` runs beside it. Prints how many answers went through, how many Prefect
refused or failed (and with what), and the time from one answer to the next form.

Run: python bench/ui_resumes.py [--answers 100] [--load] [--think 2] [--database auto|postgres|sqlite]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

from bench.figures import percentile  # noqa: E402
from tests.flow_helpers import CAPACITY_RUNBOOK, write_runbook  # noqa: E402
from tests.net import free_port  # noqa: E402
from tests.prefect_ui import served_deployments, wait_ended, wait_paused  # noqa: E402
from tests.service import running_service  # noqa: E402
from tests.up_process import person, stop_up, up_env, wait_for_login, warroom  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=100)
    ap.add_argument("--think", type=float, default=2.0, help="seconds a person reads the form before Submit")
    ap.add_argument("--database", default="auto", choices=["auto", "postgres", "sqlite"], help="Prefect's")
    ap.add_argument("--env", action="append", default=[], help="K=V for `warroom up` (try its settings)")
    ap.add_argument("-v", action="store_true", help="print the server log's errors")
    ap.add_argument("--load", action="store_true", help="stress-ng --cpu 2 beside it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warroom-resumes-"))
    write_runbook(
        tmp / "runbooks",
        CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "2h")
        .replace(" ESCALATE", "")
        .replace("four_eyes: true", "four_eyes: false"),
    )
    port = free_port()
    env = up_env(tmp, port)
    env["WARROOM_APPROVER_GROUPS"] = '{"sre": ["alice"]}'
    env["WARROOM_PREFECT_DATABASE"] = args.database  # what `warroom up` picks unless told
    env.update(dict(kv.split("=", 1) for kv in args.env))
    stress = None
    if args.load:
        if not shutil.which("stress-ng"):
            raise SystemExit("--load needs stress-ng (apt-get install stress-ng)")
        stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--quiet"], start_new_session=True)
    up = warroom("up", env=env, output=tmp / "up.log", start_new_session=True)
    try:
        login = wait_for_login(env, up, tmp / "up.log")
        _, secrets = person("alice", env, tmp / "alice-laptop")
        with running_service() as (url, _state):
            _measure(login, port, url, args.answers, secrets["approve"], bool(stress), args.think)
    finally:
        stop_up(up)
        if stress is not None:
            stop_up(stress)
        log = tmp / "home" / "prefect" / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        print(f"  Prefect's server log: {text.count('database is locked')} 'database is locked'")
        if "-v" in sys.argv:
            print(
                "\n".join(line for line in text.splitlines() if "Error" in line or "locked" in line)[-6000:]
            )
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(
    login: tuple[str, str],
    port: int,
    service_url: str,
    answers: int,
    totp: object,
    loaded: bool,
    think: float,
) -> None:
    api = f"http://127.0.0.1:{port}/api"
    deployment = served_deployments(api, login, {"svc-capacity"})["svc-capacity"]
    http = httpx.Client(base_url=api, auth=login, timeout=120)
    run = http.post(
        f"/deployments/{deployment['id']}/create_flow_run",
        json={"parameters": {"runbook": "svc-capacity", "params": {"service_url": service_url}}},
    )
    if run.status_code != 201:
        raise SystemExit(f"the custom-run form's request was refused: {run.status_code} {run.text[:500]}")
    run = run.json()
    outcomes: Counter[str] = Counter()
    to_next_form: list[float] = []
    last_key = None
    answered = 0.0
    for i in range(answers):
        key = wait_paused(http, run["id"], last_key)
        if last_key is not None:
            to_next_form.append(time.monotonic() - answered)
        last_key = key
        right = i == answers - 1
        answer = {
            "decision": "approve",
            "approver": "alice",
            "code": totp.now() if right else "000000",  # type: ignore[attr-defined]
            "reason": f"answer {i + 1}",
        }
        time.sleep(think)
        answered = time.monotonic()
        resp = http.post(f"/flow_runs/{run['id']}/resume", json={"run_input": answer})
        if resp.status_code not in (200, 201):
            outcomes[f"HTTP {resp.status_code}: {resp.text[:120]}"] += 1
            last_key = None  # the form is still there: the person presses Submit again
        else:
            outcomes[str(resp.json().get("status"))] += 1
    ended = wait_ended(http, run["id"])
    final = f"{ended['type']} ({ended.get('message') or ''})"
    through = outcomes.get("ACCEPT", 0)
    beside = "stress-ng --cpu 2 beside it" if loaded else "quiet"
    print(f"{answers} answers through the UI's resume call ({beside}):")
    print(f"  went through: {through}/{answers}")
    for what, n in sorted(outcomes.items()):
        if what != "ACCEPT":
            print(f"  {what}: {n}")
    if to_next_form:
        print(
            f"  answer -> next form: median {statistics.median(to_next_form):.2f}s "
            f"p95 {percentile(to_next_form, 0.95):.2f}s max {max(to_next_form):.2f}s"
        )
    print(f"  the run ended {final}")


if __name__ == "__main__":
    main()
