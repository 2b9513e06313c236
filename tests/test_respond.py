"""The respond flow end to end on a real Prefect server, with a real HTTP service and real approvers."""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flows.answer import answer_gate
from tests.flow_helpers import (
    CAPACITY_RUNBOOK,
    FlowThread,
    code,
    signer_of,
    wait_for_gate,
    wait_for_incident,
    write_runbook,
)
from tests.service import ServiceState, running_service
from warroom.ledger import Store
from warroom.settings import get_settings

PHASES = ["detected", "triaged", "investigating", "mitigating", "monitoring", "resolved"]


@pytest.fixture
def env(
    prefect_api: str,
    ledger: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Store]:
    timeout = getattr(request, "param", "60s")
    escalate = ", escalate_after: 2s" if timeout != "60s" else ""
    write_runbook(
        tmp_path / "runbooks",
        CAPACITY_RUNBOOK.replace("APPROVAL_TIMEOUT", timeout).replace(" ESCALATE", escalate),
    )
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(tmp_path / "runbooks"))
    monkeypatch.setenv("WARROOM_DATABASE_URL", ledger)
    monkeypatch.setenv("WARROOM_STEP_MODULES", '["tests.plugin_steps"]')
    monkeypatch.setenv(
        "WARROOM_APPROVER_GROUPS",
        json.dumps(
            {
                "sre": [
                    "alice",
                    "bob",
                    "carol",
                    "dave",
                    "erin",
                    "grace",
                    "heidi",
                    "ivan",
                    "judy",
                    "karl",
                    "leo",
                    "mia",
                    "nora",
                    "oscar",
                ]
            }
        ),
    )
    monkeypatch.setenv("WARROOM_ONCALL", '{"primary": ["alice"], "secondary": ["bob"]}')
    get_settings.cache_clear()
    store = Store.from_settings()
    yield store
    store.close()


def start(service_url: str, **params: object) -> tuple[FlowThread, str]:
    key = f"test:{uuid.uuid4().hex}"
    thread = FlowThread(
        runbook="svc-capacity",
        params={"service_url": service_url, **params},
        requested_by="dave",
        dedup_key=key,
    )
    thread.start()
    return thread, key


def kinds(store: Store, incident: str) -> list[str]:
    return [e.kind for e in store.timeline(incident)]


def statuses(store: Store, incident: str) -> list[str]:
    changes = [e.data["to"] for e in store.timeline(incident) if e.kind == "status.changed"]
    return ["detected", *changes]


def test_approved_mitigation_runs_and_every_phase_is_on_the_timeline(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        assert gate.proposal == "scale_up"
        assert state.scale_calls == []  # nothing runs while the gate is open
        outcome = answer_gate(
            env, incident.id, approver="alice", code=code("alice"), reason="capacity is the cause"
        )
        assert outcome.verdict == "granted"
        result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "resolved"
    assert state.scale_calls == [4]
    assert statuses(env, incident.id) == PHASES
    timeline = kinds(env, incident.id)
    order = [
        "incident.opened",
        "run.started",
        "status.changed",
        "diagnostic.result",
        "mitigation.proposed",
        "approval.requested",
        "approval.granted",
        "mitigation.started",
        "mitigation.applied",
        "verification.passed",
    ]
    positions = [timeline.index(k) for k in order]
    assert positions == sorted(positions), timeline
    final = env.get(incident.id)
    assert final.title == f"capacity: {url}"


def test_a_resolved_run_opens_the_runbooks_action_items_and_plans_the_follow_up(env: Store) -> None:
    with running_service() as (url, _state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="alice", code=code("alice"), reason="capacity")
        assert thread.finish().outcome == "resolved"
    final = env.get(incident.id)
    assert final.resolved_at is not None
    items = env.action_items(incident.id)
    assert [(i.title, i.owner, i.due) for i in items] == [
        ("Capacity plan: 4 replicas were too few", "carol", final.resolved_at.date() + timedelta(days=7)),
        ("Alert before the service is unhealthy", "bob", None),
    ]
    [talk] = [e for e in env.timeline(incident.id) if e.kind == "communication.planned"]
    assert talk.data["channel"] == "#inc-capacity-4" and talk.data["update_every"] == "10m"
    assert "sales" in talk.data["audience"]
    [postmortem] = [e for e in env.timeline(incident.id) if e.kind == "postmortem.planned"]
    assert postmortem.data["owner"] == "carol" and len(postmortem.data["action_items"]) == 2


def test_timeline_artifact_matches_the_ledger_and_run_is_tagged(env: Store) -> None:
    from prefect.client.orchestration import get_client

    with running_service() as (url, _state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="go")
        thread.finish()
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterKey,
            FlowRunFilter,
            FlowRunFilterTags,
        )

        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"inc-{incident.number}-timeline"])),
            limit=1,
            sort="CREATED_DESC",
        )
        # other test modules keep their own ledgers (so their own INC-N) on the same Prefect server
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"incident:{incident.id}", "runbook:svc-capacity"])
            )
        )
    from warroom.render import timeline_markdown

    final = env.get(incident.id)
    assert artifact.data == timeline_markdown(final, env.timeline(incident.id))
    assert final.status.value == "resolved"
    [run] = runs
    assert {f"incident:{incident.id}", "runbook:svc-capacity", "severity:P3"} <= set(run.tags)


def test_rejected_mitigation_executes_nothing(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        outcome = answer_gate(
            env,
            incident.id,
            approver="carol",
            code=code("carol"),
            reason="not during the sale",
            decision="reject",
        )
        result = thread.finish()
    assert outcome.verdict == "rejected"
    assert state.scale_calls == []
    assert result.outcome == "handed_back"
    timeline = kinds(env, incident.id)
    assert "approval.rejected" in timeline and "run.handed_back" in timeline
    assert "mitigation.started" not in timeline


def test_unauthorized_approver_is_refused_then_an_authorized_one_counts(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        refused = answer_gate(env, incident.id, approver="mallory", code=code("mallory"), reason="me")
        assert refused.verdict == "refused" and "not an authorized approver" in refused.text
        assert state.scale_calls == []
        wait_for_gate(incident.id, after_pause=gate.pause)  # the gate waits again
        granted = answer_gate(env, incident.id, approver="erin", code=code("erin"), reason="ok")
        assert granted.verdict == "granted"
        thread.finish()
    assert state.scale_calls == [4]


def test_right_name_with_a_wrong_code_is_refused(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        good = code("alice")
        wrong = f"{(int(good) + 1) % 1_000_000:06d}"
        refused = answer_gate(env, incident.id, approver="alice", code=wrong, reason="trust me")
        assert refused.verdict == "refused" and "wrong one-time code for alice" in refused.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        answer_gate(
            env, incident.id, approver="alice", code=good, reason="now with my code", decision="reject"
        )
        thread.finish()
    assert state.scale_calls == []
    assert all("code" not in e.data.get("answer", {}) for e in env.timeline(incident.id))


def test_a_reused_code_is_refused(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        once = code("mallory")
        first = answer_gate(env, incident.id, approver="mallory", code=once, reason="let me")
        assert first.verdict == "refused" and "not an authorized approver" in first.text  # the code was spent
        gate = wait_for_gate(incident.id, after_pause=gate.pause)
        replay = answer_gate(env, incident.id, approver="mallory", code=once, reason="again")
        assert replay.verdict == "refused" and "already used" in replay.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        answer_gate(env, incident.id, approver="grace", code=code("grace"), reason="no", decision="reject")
        thread.finish()
    assert state.scale_calls == []


def test_four_eyes_refuses_whoever_started_the_run(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)  # started by dave, who is in the sre group
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        refused = answer_gate(env, incident.id, approver="dave", code=code("dave"), reason="my own fix")
        assert refused.verdict == "refused" and "four-eyes" in refused.text
        wait_for_gate(incident.id, after_pause=gate.pause)
        answer_gate(env, incident.id, approver="heidi", code=code("heidi"), reason="stop", decision="reject")
        thread.finish()
    assert state.scale_calls == []


def test_adjusted_parameter_reaches_the_mitigation(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(
            env, incident.id, approver="ivan", code=code("ivan"), reason="go big", adjust={"replicas": 7}
        )
        result = thread.finish()
    assert state.scale_calls == [7]
    assert result.outcome == "resolved"


def test_adjustment_outside_the_params_schema_is_refused_by_the_server_and_recorded(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        refused = answer_gate(
            env, incident.id, approver="judy", code=code("judy"), reason="x", adjust={"replicas": 500}
        )
        assert refused.verdict == "refused"
        assert re.search(r"refused before it reached the gate: .*replicas.*maximum of 50", refused.text)
        # On the timeline under the answer's own id, without its code.
        event = env.event_by_key(incident.id, f"answer:{refused.answer_id}")
        assert event is not None and event.kind == "approval.refused" and event.actor == "judy"
        assert "code" not in event.data["answer"]
        answer_gate(env, incident.id, approver="karl", code=code("karl"), reason="no", decision="reject")
        thread.finish()
    assert state.scale_calls == []


@pytest.mark.parametrize("env", ["5s"], indirect=True)
def test_timeout_executes_nothing_and_escalation_is_recorded(env: Store) -> None:
    with running_service() as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        result = thread.finish(timeout=60)
    assert thread.error is None, thread.error
    assert state.scale_calls == []
    assert result.outcome == "handed_back" and "timed out" in result.detail
    events = env.timeline(incident.id)
    [escalated] = [e for e in events if e.kind == "approval.escalated"]
    assert escalated.data["notified"] == ["bob"]
    [timed_out] = [e for e in events if e.kind == "approval.timed_out"]
    assert "nothing executed" in timed_out.text
    assert escalated.id < timed_out.id


def test_failed_mitigation_is_recorded_not_retried_and_goes_back_to_investigating(env: Store) -> None:
    with running_service(ServiceState(fail_scale=True)) as (url, state):
        thread, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="leo", code=code("leo"), reason="try it")
        result = thread.finish()
    assert state.scale_calls == [4]  # once: never retried blindly
    assert result.outcome == "handed_back"
    [failed] = [e for e in env.timeline(incident.id) if e.kind == "mitigation.failed"]
    assert "500" in failed.text and "not retried" in failed.text
    assert statuses(env, incident.id)[-2:] == ["mitigating", "investigating"]


def test_a_failing_diagnostic_does_not_stop_the_others_and_logs_one_line_not_a_traceback(
    env: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "runbooks" / "svc-two-checks.yaml").write_text(
        textwrap.dedent(
            """\
            name: svc-two-checks
            description: One diagnostic raises (no cluster configured), the other answers.
            params:
              service_url: {type: string}
            diagnostics:
              - id: cluster
                use: kubernetes.deployment_status
                with: {namespace: prod, deployment: web}
              - id: alive
                use: http.check
                with: {url: "{{ params.service_url }}/healthz", retries: 0}
            """
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with running_service() as (url, _state):
        thread = FlowThread(
            runbook="svc-two-checks", params={"service_url": url}, dedup_key=f"test:{uuid.uuid4().hex}"
        )
        thread.start()
        result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "handed_back"
    incident = env.latest_for_key(thread.kwargs["dedup_key"])
    assert incident is not None
    events = {e.text.split(" ")[0]: e for e in env.timeline(incident.id) if e.kind.startswith("diagnostic.")}
    assert events["cluster"].kind == "diagnostic.failed" and "KubeError" in events["cluster"].text
    assert events["alive"].kind == "diagnostic.result" and "status 503" in events["alive"].text
    said = [r for r in caplog.records if r.name.startswith("prefect") and "KubeError" in r.getMessage()]
    assert said  # in the run's log
    # An expected refusal is a finding, not a crash: no record of it carries a traceback.
    assert not [r for r in said if r.exc_info and r.exc_info[0] is not None], caplog.text


def test_a_hand_started_run_with_a_wrong_param_says_which_and_opens_no_incident(env: Store) -> None:
    thread, key = start("http://127.0.0.1:9", replicas="many")
    thread.finish()
    assert thread.error is not None and "not started: params.replicas: expected integer" in str(thread.error)
    assert env.latest_for_key(key) is None  # nothing left `detected` for ever


def test_an_alert_run_with_a_wrong_param_fails_and_its_incident_says_which(env: Store) -> None:
    key = f"test:{uuid.uuid4().hex}"
    alert = {
        "labels": {"alertname": "ServiceUnhealthy", "service": "checkout"},
        "annotations": {"service_url": "http://127.0.0.1:9"},
    }
    thread = FlowThread(runbook="svc-capacity", params={"replicas": "many"}, alert=alert, dedup_key=key)
    thread.start()
    thread.finish()
    assert thread.error is not None and "params.replicas" in str(thread.error)
    incident = env.latest_for_key(key)
    assert incident is not None  # the alert's trouble is real: its incident is open
    assert incident.service == "checkout"  # the runbook names no service: the alert's is the incident's
    [failed] = [e for e in env.timeline(incident.id) if e.kind == "run.failed"]
    assert "params.replicas: expected integer" in failed.text


def test_running_the_runbook_again_for_the_incident_does_not_repeat_the_mitigation(env: Store) -> None:
    # The service needs 10 replicas: scaling to 4 is applied but verification fails, so a human runs it again.
    with running_service(ServiceState(healthy_at=10)) as (url, state):
        first, key = start(url)
        incident = wait_for_incident(env, key)
        wait_for_gate(incident.id)
        answer_gate(env, incident.id, approver="nora", code=code("nora"), reason="scale")
        assert first.finish().outcome == "handed_back"
        events_after_first = len(env.timeline(incident.id))
        second = FlowThread(
            runbook="svc-capacity", params={"service_url": url}, requested_by="erin", dedup_key=key
        )
        second.start()
        result = second.finish()
    assert state.scale_calls == [4]
    assert result.incident == incident.id and result.outcome == "handed_back"
    new = env.timeline(incident.id)[events_after_first:]
    assert "mitigation.skipped" in [e.kind for e in new]
    assert "approval.requested" not in [e.kind for e in new]  # nothing to approve: nothing will run
    assert "mitigation.started" not in [e.kind for e in new]
    assert env.action_items(incident.id) == []  # handed back, not resolved: the follow-up is the humans'


def test_a_run_that_died_mid_mitigation_is_not_repeated_when_restarted(
    env: Store, prefect_api: str, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    with running_service(ServiceState(hang_scale=True)) as (url, state):
        key = f"test:{uuid.uuid4().hex}"
        signer_of("dave")  # dave's key, on his machine: the run is signed as `warroom run --local` signs it
        script = (
            "from tests.flow_helpers import respond_vouched; "
            f"respond_vouched(runbook='svc-capacity', params={{'service_url': {url!r}}}, "
            f"requested_by='dave', dedup_key={key!r})"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            incident = wait_for_incident(env, key)
            wait_for_gate(incident.id)
            answer_gate(env, incident.id, approver="oscar", code=code("oscar"), reason="scale it")
            assert state.scale_received.wait(60)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker dies while the change is in flight
            proc.wait()
        assert "mitigation.started" in kinds(env, incident.id)
        assert "mitigation.applied" not in kinds(env, incident.id)
        state.hang_scale = False
        restarted = FlowThread(
            runbook="svc-capacity", params={"service_url": url}, requested_by="dave", dedup_key=key
        )
        restarted.start()
        result = restarted.finish()
    assert state.scale_calls == [4]  # never sent twice
    assert (
        result.outcome == "handed_back"
    )  # its outcome is unknown, so humans decide; verification said unhealthy
    assert "mitigation.unknown" in kinds(env, incident.id)
    assert kinds(env, incident.id).count("mitigation.started") == 1
