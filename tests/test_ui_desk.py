"""The Prefect UI as the on-call engineer's desk, clicked in Chromium against `warroom up` as a person starts
it (its guarded Prefect on the embedded PostgreSQL when one is installed, the runbooks served): every shipped
runbook starts from its form, an approver reads the plan without scrolling and answers from the resume form,
and answers on a loaded machine all go through (a
hundred in bench/ui_resumes.py).

Screenshots of what a person saw are kept as test output (WARROOM_TEST_OUTPUT, else test-output/ui/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.kube import FakeCluster, RunningCluster, rollout_scene, running_cluster
from tests.conftest import REPO
from tests.flow_helpers import CAPACITY_RUNBOOK, fresh_code, write_runbook
from tests.net import free_port
from tests.prefect_ui import Ui, in_view, prefect_ui, served_deployments, wait_ended, wait_paused
from tests.service import running_service
from tests.up_process import person, stop_up, up_env, wait_for_login, warroom, warroom_done

pytestmark = pytest.mark.long(290)

SHIPPED = sorted(p.stem for p in (REPO / "runbooks").glob("*.yaml"))
SHOTS = Path(os.environ.get("WARROOM_TEST_OUTPUT") or REPO / "test-output") / "ui"
# What a person types for a field the runbook cannot default (an alert would give it). Everything points
# at loopback: the runs start, and their diagnostics fail fast against ports nothing listens on.
TYPED = {
    "deployment": "checkout",
    "cluster": "shop",
    "service": "checkout",
    "alarm": "checkout-5xx",
    "region": "us-east-1",
    "group": "checkout-asg",
    "flag": "new-checkout",
    "endpoint": "http://127.0.0.1:9/checkout",
    "host": "web-1",
}


@dataclass
class Desk:
    env: dict[str, str]
    api: str
    http: httpx.Client
    deployments: dict[str, Any]
    ui: Ui
    kube: RunningCluster
    authenticators: dict[str, Any]  # each approver's (pyotp.TOTP)
    spent: dict[str, set[int]]  # each approver's code steps used
    acknowledgers: dict[str, Any]  # each person's 'Warroom acknowledge' authenticator (pyotp.TOTP)

    def code(self, who: str = "alice") -> str:
        """A code ``who`` has not used yet: one-time codes are refused the second time."""
        return fresh_code(self.authenticators[who], self.spent.setdefault(who, set()))

    def wrong_code(self, who: str = "alice") -> str:
        return "000000" if self.authenticators[who].now() != "000000" else "111111"

    def answer_in_the_ui(self, flow_run_id: str, who: str, code: str, reason: str) -> str:
        """``who`` opens the paused run, presses Resume, approves with ``code`` and presses Submit once."""
        dialog = self.ui.open_resume_form(flow_run_id)
        self.ui.choose(dialog, "Decision", "approve")
        self.ui.fill(dialog, "Approver", who)
        self.ui.fill(dialog, "Code", code)
        self.ui.fill(dialog, "Reason", reason)
        status, body = self.ui.submit(dialog)
        assert status in (200, 201), body
        return str(json.loads(body)["status"])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("desk")
    for path in (REPO / "runbooks").glob("*.yaml"):
        (tmp / "runbooks").mkdir(exist_ok=True)
        shutil.copy(path, tmp / "runbooks")
    write_runbook(
        tmp / "runbooks",
        CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", "30m")
        .replace(" ESCALATE", "")
        .replace("four_eyes: true", "four_eyes: false"),
    )
    port, closed = free_port(), f"http://127.0.0.1:{free_port()}"
    env = up_env(tmp, port)
    env.update(
        WARROOM_PREFECT_DATABASE="auto",  # as `warroom up` picks for a person: PostgreSQL when installed
        WARROOM_APPROVER_GROUPS='{"sre": ["alice", "bob"]}',
        WARROOM_RUN_HEARTBEAT_SECONDS="2",
        WARROOM_LAUNCHDARKLY_URL=closed,
        WARROOM_UNLEASH_URL=closed,
        AWS_ENDPOINT_URL=closed,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    stack = ExitStack()
    kube = stack.enter_context(running_cluster(FakeCluster(), tmp / "kube"))
    env["KUBECONFIG"] = str(kube.kubeconfig)
    up = warroom("up", env=env, output=tmp / "up.log", start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        login = wait_for_login(env, up, tmp / "up.log")
        deployments = served_deployments(api, login, {*SHIPPED, "svc-capacity"})
        people = {who: person(who, env, tmp / f"{who}-laptop")[1] for who in ("alice", "bob")}
        codes = {who: secrets["approve"] for who, secrets in people.items()}
        acks = {who: secrets["acknowledge"] for who, secrets in people.items()}
        http = stack.enter_context(httpx.Client(base_url=api, auth=login, timeout=120))
        ui = stack.enter_context(prefect_ui(api.removesuffix("/api"), login, SHOTS))
        yield Desk({**env, "PREFECT_API_URL": api}, api, http, deployments, ui, kube, codes, {}, acks)
    finally:
        stop_up(up)
        stack.close()


def _incident(desk: Desk, flow_run_id: str, timeout: float = 120) -> dict[str, Any]:
    """The incident the run opened (it tags itself with it), as `warroom incidents show --json` has it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = desk.http.get(f"/flow_runs/{flow_run_id}").json()
        tag = next((t for t in run["tags"] if t.startswith("incident:")), None)
        if tag:
            shown = warroom_done("incidents", "show", tag.removeprefix("incident:"), "--json", env=desk.env)
            assert shown.returncode == 0, shown.stdout + shown.stderr
            return dict(json.loads(shown.stdout))
        assert run["state"]["type"] not in ("FAILED", "CRASHED"), run["state"]
        time.sleep(0.5)
    raise AssertionError(f"run {flow_run_id} opened no incident within {timeout:.0f} s")


@pytest.mark.parametrize("runbook", SHIPPED)
def test_every_shipped_runbook_starts_from_its_ui_form_with_its_defaults(desk: Desk, runbook: str) -> None:
    deployment = desk.deployments[runbook]
    schema = deployment["parameter_openapi_schema"]["properties"]["params"]
    needed = set(schema.get("required", []))
    assert needed <= set(TYPED), f"{runbook} asks for {sorted(needed - set(TYPED))}: give the test a value"

    typed = {k: TYPED[k] for k in sorted(needed)}
    made = desk.ui.start_from_form(deployment["id"], typed, f"start-{runbook}")

    assert made["status"] == 201, made
    sent = made["parameters"]["params"]
    defaults = {k: p["default"] for k, p in schema["properties"].items() if "default" in p}
    assert {k: sent.get(k) for k in defaults} == defaults, "the form sent its own defaults unchanged"
    assert {k: sent[k] for k in needed} == {k: TYPED[k] for k in needed}
    shown = _incident(desk, made["id"])
    assert shown["incident"]["runbook"] == runbook
    kinds = [e["kind"] for e in shown["timeline"]]
    assert "triage" in kinds or "severity.set" in kinds, kinds  # it got past its params into the response


def test_an_approver_reads_the_plan_without_scrolling_and_answers_from_the_resume_form(desk: Desk) -> None:
    with running_service() as (url, state):
        deployment = desk.deployments["svc-capacity"]
        made = desk.ui.start_from_form(deployment["id"], {"service_url": url}, "start-svc-capacity")
        assert made["status"] == 201, made
        first = wait_paused(desk.http, made["id"])
        # Held past the gate's poll and the run's heartbeat (made short through settings) before anyone looks.
        time.sleep(5)

        dialog = desk.ui.open_resume_form(made["id"])
        desk.ui.shot("approval-form")
        desk.ui.help_showing(dialog, "Decision", "would scale from 2 to 4 replicas")
        help_text = desk.ui.help_of(dialog, "Decision")
        for said in ("Change:", "Dry run:", "Way back:", "Why:", "Who:"):
            paragraph = help_text.get_by_text(said).first
            assert in_view(paragraph.bounding_box()), f"{said!r} is out of view at 1440x1000, unscrolled"
        assert not dialog.get_by_text("Answer id").count() and not dialog.get_by_text("Signature").count()

        # A wrong code: the gate refuses it, nothing runs, and the next form starts with why.
        assert desk.answer_in_the_ui(made["id"], "alice", desk.wrong_code(), "scale it") == "ACCEPT"
        again = wait_paused(desk.http, made["id"], after=first)
        assert state.scale_calls == []
        dialog = desk.ui.open_resume_form(made["id"])
        refused = dialog.get_by_text(re.compile("Your last answer was refused")).first
        assert in_view(refused.bounding_box())
        assert "wrong one-time code for alice" in dialog.inner_text()
        desk.ui.shot("approval-form-after-a-refusal")

        # The right code: granted, the change made once, the service recovers, the run ends.
        assert desk.answer_in_the_ui(made["id"], "alice", desk.code(), "scale it") == "ACCEPT"
        assert wait_ended(desk.http, made["id"])["type"] == "COMPLETED"
        assert again != first and state.scale_calls == [4]
    shown = _incident(desk, made["id"])
    assert shown["incident"]["status"] == "resolved"
    granted = [e for e in shown["timeline"] if e["kind"] == "approval.granted"]
    assert [e["actor"] for e in granted] == ["alice"]
    assert [e["actor"] for e in shown["timeline"] if e["kind"] == "approval.refused"] == ["alice"]


@contextmanager
def loaded() -> Iterator[None]:
    """The machine busy, as a responder's laptop or a small VM is during an incident: every core taken.
    When the machine's own load is less than one busy process per core (this module alone), stress-ng takes
    a core for itself; in the whole suite, its other workers already do, and stress-ng would only take
    CPU from them."""
    assert shutil.which("stress-ng"), "the loaded-machine tests need stress-ng (scripts/install.sh --dev)"
    busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    stress = (
        None if busy else subprocess.Popen(["stress-ng", "--cpu", "1", "--quiet"], start_new_session=True)
    )
    try:
        yield
    finally:
        if stress is not None:
            stop_up(stress)


def test_the_bad_deploy_story_runs_from_the_ui_alone_on_a_loaded_machine(desk: Desk) -> None:
    with loaded():
        _bad_deploy_story(desk)


def _bad_deploy_story(desk: Desk) -> None:
    # A deploy 7 minutes ago whose pods crash-loop, in the sandbox Kubernetes API `warroom up` reads.
    rollout_scene(desk.kube.cluster, state="crashloop", minutes_ago=7, revisions=3)
    deployment = desk.deployments["k8s-bad-deploy"]
    made = desk.ui.start_from_form(deployment["id"], {"deployment": "web"}, "start-k8s-bad-deploy-web")
    assert made["status"] == 201, made
    first = wait_paused(desk.http, made["id"])
    dialog = desk.ui.open_resume_form(made["id"])
    desk.ui.shot("approval-form-rollback")
    desk.ui.help_showing(
        dialog,
        "Decision",
        "Dry run: would roll prod/web back from revision 3 (web:3) to the template of revision 2",
        "Way back: kubectl rollout undo deployment/web -n prod --to-revision=3",
        "Why: ",
        "Who: 2 of group sre",
    )
    assert (
        desk.kube.cluster.get("deployments", "prod", "web")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == "web:3"
    )

    # Four eyes: alice, then bob on the next form, each from the UI with their own code.
    assert desk.answer_in_the_ui(made["id"], "alice", desk.code("alice"), "v3 crash-loops") == "ACCEPT"
    wait_paused(desk.http, made["id"], after=first)
    desk.ui.help_showing(desk.ui.open_resume_form(made["id"]), "Decision", "so far alice")
    assert desk.answer_in_the_ui(made["id"], "bob", desk.code("bob"), "agreed, roll back") == "ACCEPT"

    assert wait_ended(desk.http, made["id"])["type"] == "COMPLETED"
    image = desk.kube.cluster.get("deployments", "prod", "web")["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == "web:2"
    shown = _incident(desk, made["id"])
    assert shown["incident"]["status"] == "resolved"
    kinds = [e["kind"] for e in shown["timeline"]]
    assert kinds.count("approval.granted") == 2 and kinds.count("mitigation.applied") == 1


def test_the_status_page_is_published_from_the_ui_form_with_warrooms_draft_to_edit(desk: Desk) -> None:
    from warroom.incident import Role, Severity
    from warroom.ledger import Store

    store = Store(f"sqlite:///{Path(desk.env['WARROOM_HOME']) / 'warroom.db'}")
    try:
        opened = store.open_or_attach(
            "ui-status", title="Checkout errors", severity=Severity.P1, service="checkout"
        )
        number = opened.incident.number
        store.assign_role(number, Role.COMMS_LEAD, "bob")
    finally:
        store.close()
    deployment = desk.http.post("/deployments/filter", json={}).json()
    [publish] = [d for d in deployment if d["name"] == "publish"]
    # A name typed in the form proves nothing: bob's name with alice's code publishes nothing.
    forged = desk.ui.start_from_form(
        publish["id"], {"incident": f"INC-{number}", "person": "bob"}, "start-forged"
    )
    wait_paused(desk.http, forged["id"])
    dialog = desk.ui.open_resume_form(forged["id"])
    desk.ui.fill(dialog, "Acknowledgement code", fresh_code(desk.acknowledgers["alice"]))
    desk.ui.submit(dialog)
    assert wait_ended(desk.http, forged["id"])["type"] == "FAILED"
    made = desk.ui.start_from_form(
        publish["id"], {"incident": f"INC-{number}", "person": "bob"}, "start-status-publish"
    )
    assert made["status"] == 201, made
    wait_paused(desk.http, made["id"])
    dialog = desk.ui.open_resume_form(made["id"])
    # Warroom's draft is there to edit, as the form's own values: Submit with them is not refused
    text = desk.ui._field(dialog, "Your update").locator("textarea, input").first
    assert text.input_value().startswith("We are currently experiencing issues with checkout")
    desk.ui.fill(dialog, "Your update", "Checkout payments fail for some customers; we are on it.")
    desk.ui.fill(dialog, "Acknowledgement code", fresh_code(desk.acknowledgers["bob"]))
    desk.ui.shot("status-publish-form")
    status, body = desk.ui.submit(dialog)
    assert status in (200, 201) and json.loads(body)["status"] == "ACCEPT", body
    assert wait_ended(desk.http, made["id"])["type"] == "COMPLETED"
    page = httpx.get(f"http://127.0.0.1:{desk.env['WARROOM_RECEIVER_PORT']}/status/", timeout=30).text
    assert "Checkout payments fail for some customers; we are on it." in page
    shown = json.loads(warroom_done("incidents", "show", f"INC-{number}", "--json", env=desk.env).stdout)
    [posted] = [e for e in shown["timeline"] if e["kind"] == "status.posted"]
    [refused] = [e for e in shown["timeline"] if e["kind"] == "status.refused"]
    assert "through the Prefect UI refused" in refused["text"]
    assert posted["actor"] == "bob" and posted["data"]["via"] == "prefect-ui"


ANSWERS = 25  # `python bench/ui_resumes.py --answers 100 --load` sends a hundred


def test_answers_through_the_ui_resume_call_on_a_loaded_machine_all_go_through(desk: Desk) -> None:
    # Exactly what the UI's Submit sends, once each, never retried: wrong codes, then the right one.
    with loaded(), running_service() as (url, state):
        deployment = desk.deployments["svc-capacity"]
        run = desk.http.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": {"runbook": "svc-capacity", "params": {"service_url": url}}},
        )
        assert run.status_code == 201, run.text
        run_id = run.json()["id"]
        outcomes: list[str] = []
        pause = None
        for i in range(ANSWERS):
            pause = wait_paused(desk.http, run_id, after=pause, why=outcomes)
            right = i == ANSWERS - 1
            answer = {
                "decision": "approve",
                "approver": "alice",
                "code": desk.code() if right else desk.wrong_code(),
                "reason": f"answer {i + 1}",
            }
            resp = desk.http.post(f"/flow_runs/{run_id}/resume", json={"run_input": answer})
            ok = resp.status_code in (200, 201)
            said = resp.json() if ok else {"status": f"HTTP {resp.status_code}", "details": resp.text}
            reason = said.get("details") if said["status"] != "ACCEPT" else None
            outcomes.append(f"{said['status']} {reason or ''}".strip())
            if said["status"] != "ACCEPT":
                pause = None  # the same form is still there
        assert outcomes == ["ACCEPT"] * ANSWERS, {o: outcomes.count(o) for o in set(outcomes)}
        assert wait_ended(desk.http, run_id)["type"] == "COMPLETED"
        assert state.scale_calls == [4]
