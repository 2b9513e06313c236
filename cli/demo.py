"""`warroom demo`: the guide's bad-deploy story, end to end, against a sandbox started here on loopback.

A sandbox Kubernetes API server whose Deployment prod/web just rolled out a revision that crash-loops, a
service whose health answers 500 while it does, `warroom up` (its own Prefect server, receiver and runbook
served) in a throwaway home, the alert posted to the real receiver, the approval asked here (or given with
--approve-as), the rollback, the verification, the post-mortem and the timeline. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import err, fail, out
from sandbox.checkout import running_checkout
from sandbox.kube import FakeCluster, rollout_scene, running_cluster
from warroom.events import EventKind
from warroom.settings import get_settings

RUNBOOK = "k8s-bad-deploy"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], Any], seconds: float, up: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if up.poll() is not None:
            fail(f"warroom up stopped while waiting for {what} (exit {up.returncode})", 1)
        found = check()
        if found:
            return found
        time.sleep(0.3)
    fail(f"gave up waiting for {what} after {seconds:.0f} s", 1)


@contextmanager
def _warroom_up(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "up"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def demo(
    approve_as: Annotated[
        str | None, typer.Option("--approve-as", help="Approve as NAME without asking (for scripts and CI)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the demo's home (ledger, post-mortem) afterwards")] = False,
) -> None:
    """Play a bad deploy end to end in a sandbox: alert, diagnostics, approval, rollback, verified."""
    settings = get_settings()
    source = settings.runbooks_dir / f"{RUNBOOK}.yaml"
    if not source.exists():
        fail(f"no {source}: run the demo from the repository root (or set WARROOM_RUNBOOKS_DIR)", 2)
    approver = approve_as or settings.user
    if approve_as is None and not sys.stdin.isatty():
        fail("no terminal to ask for the approval: give --approve-as NAME", 2)
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="warroom-demo-"))
    try:
        _play(base, source, approver, ask=approve_as is None)
    finally:
        if keep:
            out.print(f"demo home kept: {base / 'home'}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    out.print(f"demo done in {time.monotonic() - started:.0f} s")


def _play(base: Path, source: Path, approver: str, ask: bool) -> None:
    home, runbooks = base / "home", base / "runbooks"
    runbooks.mkdir(parents=True)
    shutil.copy(source, runbooks / source.name)
    prefect_port, receiver_port = _port(), _port()
    cluster = FakeCluster()
    rollout_scene(cluster, state="crashloop", minutes_ago=7, revisions=3)
    with ExitStack() as stack:
        kube = stack.enter_context(running_cluster(cluster, base / "kube"))
        service = stack.enter_context(running_checkout(cluster))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_", "KUBE"))}
        env.update(
            WARROOM_HOME=str(home),
            WARROOM_RUNBOOKS_DIR=str(runbooks),
            WARROOM_ONCALL_DIR=str(base / "oncall"),
            WARROOM_APPROVER_GROUPS=json.dumps({"sre": [approver]}),
            WARROOM_PREFECT_PORT=str(prefect_port),
            WARROOM_RECEIVER_PORT=str(receiver_port),
            WARROOM_USER="warroom-demo",
            KUBECONFIG=str(kube.kubeconfig),
            PREFECT_HOME=str(base / "prefect-client"),
        )
        os.environ.update(
            {
                k: env[k]
                for k in (
                    "WARROOM_HOME",
                    "WARROOM_RUNBOOKS_DIR",
                    "WARROOM_ONCALL_DIR",
                    "WARROOM_APPROVER_GROUPS",
                    "WARROOM_PREFECT_PORT",
                )
            }
        )
        get_settings.cache_clear()
        from warroom.identity import register
        from warroom.ledger import Store
        from warroom.signing import make_key

        store = stack.enter_context(closing(Store.from_settings()))
        # The approver makes their key on their own machine (here the demo's folder), and the admin
        # registers its public half on the Warroom host: the host never holds a private key.
        signer = make_key(base / "approver" / "key.pem", approver, replace=True)
        register(store, get_settings(), approver, signer.public_line(), replace=True)
        out.print(
            "sandbox: Kubernetes API with prod/web (revision 3 crash-loops since 7 minutes), service "
            + service
        )
        up = stack.enter_context(_warroom_up(env, base / "warroom-up.log"))
        api = f"http://127.0.0.1:{prefect_port}/api"
        login = home / "prefect-auth"

        def served() -> bool:
            from deployments.up import LOCAL_POOL

            if not login.exists():
                return False
            user, _, password = login.read_text().strip().partition(":")
            try:
                found = httpx.post(f"{api}/deployments/filter", json={}, auth=(user, password), timeout=2)
                if not any(d.get("name") == RUNBOOK for d in found.json()):
                    return False
                # and both lanes poll, so the story's times are the runbook's, not the lanes' warm-up
                workers = httpx.post(
                    f"{api}/work_pools/{LOCAL_POOL}/workers/filter", json={}, auth=(user, password), timeout=2
                ).json()
                lanes = {w["name"].rsplit("-", 1)[-1] for w in workers if w.get("status") == "ONLINE"}
                return {"urgent", "normal"} <= lanes
            except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
                return False

        # minutes on a loaded machine: a Prefect server and two warm lanes start from cold
        _until("warroom up to serve the runbook", served, 300, up)
        os.environ["PREFECT_API_URL"] = api
        os.environ["PREFECT_API_AUTH_STRING"] = login.read_text().strip()
        out.print(f"Prefect UI: {api.removesuffix('/api')}  (login in {login}); watch or approve there too")
        incident = _fire(home, receiver_port, service)
        out.print(
            f"{time.strftime('%H:%M')} HighErrorRate on prod/web -> {incident} opened, {RUNBOOK} launched"
        )
        _approve(store, incident, signer, ask, up)
        _until(f"{incident} to be resolved", lambda: store.get(incident).status.value == "resolved", 120, up)
        _until("the post-mortem", lambda: (home / "postmortems" / f"{incident}.md").exists(), 30, up)
        _report(store, incident, home, cluster)


def _fire(home: Path, receiver_port: int, service: str) -> str:
    alert = {
        "receiver": "warroom",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "namespace": "prod",
                    "deployment": "web",
                    "severity": "critical",
                },
                "annotations": {
                    "summary": "5xx ratio 42% on prod/web",
                    "health_url": f"{service}/healthz",
                    "healthy_for": "5s",
                },
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "fingerprint": "demo-web-errors",
            }
        ],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1/demo",
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }
    token = (home / "intake-token").read_text().strip()
    sent = httpx.post(
        f"http://127.0.0.1:{receiver_port}/alerts/alertmanager",
        json=alert,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if sent.status_code != 202:
        fail(f"the receiver answered {sent.status_code}: {sent.text}", 1)
    return str(sent.json()["results"][0]["incident"])


def _approve(store: Any, incident: str, signer: Any, ask: bool, up: subprocess.Popen[str]) -> None:
    from flows.answer import answer_gate, open_gates

    gate = _until("the approval gate", lambda: next(iter(open_gates(store, incident)), None), 120, up)
    proposed = [e for e in store.timeline(incident) if e.kind == EventKind.MITIGATION_PROPOSED][-1]
    out.print(f"diagnostics done; proposed: {proposed.text}")
    out.print(f"  dry run: {proposed.data['dry_run']['summary']}")
    out.print(f"  way back: {proposed.data['way_back']}")
    if ask and not typer.confirm(f"Approve {gate.proposal} as {signer.name}?", default=False):
        answer_gate(store, incident, signer=signer, reason="not in the demo", decision="reject")
        fail("rejected: nothing was changed", 1)
    outcome = answer_gate(store, incident, signer=signer, reason="the new revision crash-loops; roll back")
    if outcome.verdict != "granted":
        fail(f"the gate did not count the approval: {outcome.text}", 1)
    out.print(f"approved by {signer.name} (signed); rolling back, then verifying")


def _report(store: Any, incident: str, home: Path, cluster: FakeCluster) -> None:
    from warroom.postmortem.document import EVIDENCE
    from warroom.render import timeline_markdown

    image = cluster.get("deployments", "prod", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    out.print(f"{incident} resolved: prod/web runs {image} again")
    out.print(timeline_markdown(store.get(incident), store.timeline(incident)), soft_wrap=True)
    document = (home / "postmortems" / f"{incident}.md").read_text()
    summary = document.split("## 2.")[0]
    out.print(summary, soft_wrap=True)
    _, heading, rest = document.partition(f"{EVIDENCE}\n")
    if heading:
        evidence = rest.split("\n\n", 1)[0]
        out.print(
            f"From the post-mortem's root cause, what the diagnostics found:\n{evidence}", soft_wrap=True
        )
    err.print(
        "(warroom demo --keep keeps the demo's home: its ledger, the whole post-mortem and the review invite)"
    )
