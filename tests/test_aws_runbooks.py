"""The shipped AWS runbooks end to end against moto in server mode: a CloudWatch alarm delivered through
SNS, the respond flow, an approval, the change made in AWS, the alarm back to OK, resolved. The alarm clears
only once the change is seen in AWS (a watcher stands in for CloudWatch's evaluation, which moto lacks)."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.answer import answer_gate
from tests import aws_scene, payloads
from tests.conftest import REPO
from tests.flow_helpers import FlowThread, code, wait_for_gate, wait_for_incident
from tests.moto_server import REGION
from warroom.intake.formats.sns import SnsEnvelope, parse_alarm
from warroom.ledger import Store
from warroom.settings import get_settings


@pytest.fixture
def env(
    prefect_api: str, ledger: str, aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Store]:
    monkeypatch.setenv("WARROOM_RUNBOOKS_DIR", str(REPO / "runbooks"))
    monkeypatch.setenv("WARROOM_DATABASE_URL", ledger)
    monkeypatch.setenv("WARROOM_APPROVER_GROUPS", json.dumps({"sre": ["alice", "bob"]}))
    get_settings.cache_clear()
    store = Store.from_settings()
    yield store
    store.close()
    get_settings.cache_clear()


SIGNER = payloads.SnsSigner(Path(tempfile.mkdtemp(prefix="warroom-sns-")))


def alarm_through_sns(
    name: str, namespace: str, metric: str, dimensions: dict[str, str]
) -> dict[str, object]:
    """The alert Warroom makes of CloudWatch's SNS notification for this alarm (as the receiver parses it)."""
    alarm = payloads.cloudwatch_alarm()
    alarm.update(
        AlarmName=name,
        AlarmArn=f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}",
        Region="EU (Ireland)",
    )
    alarm["Trigger"].update(  # type: ignore[union-attr]
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"name": k, "value": v} for k, v in dimensions.items()],
    )
    signed = SIGNER.sign(payloads.sns_notification("https://sns.invalid/cert.pem", alarm))
    envelope = SnsEnvelope.model_validate(signed)
    [alert] = parse_alarm(envelope)
    return alert.context()


@contextmanager
def clears_when(alarm: str, changed: Callable[[], bool]) -> Iterator[None]:
    """Sets the alarm OK once ``changed()`` holds: CloudWatch's part, in a world where the fix works."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if changed():
                aws_scene.set_alarm(alarm, "OK")
                return
            time.sleep(0.3)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def test_an_ecs_bad_deploy_alarm_through_sns_is_rolled_back_after_approval_and_verified(env: Store) -> None:
    scene = aws_scene.ecs_bad_deploy()
    alert = alarm_through_sns(scene.alarm, scene.namespace, scene.metric, scene.dimensions)
    assert alert["labels"]["aws_region"] == REGION  # type: ignore[index]
    key = f"ecs-bad-deploy:{scene.service}"
    with clears_when(scene.alarm, lambda: scene.task_definition() == f"{scene.family}:1"):
        thread = FlowThread(
            runbook="ecs-bad-deploy", params={"verify_within": "20s"}, alert=alert, dedup_key=key
        )
        thread.start()
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        assert gate.proposal == "rollback"
        assert scene.task_definition() == f"{scene.family}:2"  # nothing changes before the approval
        outcome = answer_gate(
            env, incident.id, approver="alice", code=code("alice"), reason="5xx since deploy"
        )
        assert outcome.verdict == "granted", outcome.text
        result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "resolved"
    assert scene.task_definition() == f"{scene.family}:1" and aws_scene.alarm_state(scene.alarm) == "OK"
    timeline = env.timeline(incident.id)
    texts = "\n".join(e.text for e in timeline)
    assert f"runs {scene.family}:2 (before: {scene.family}:1)" in texts
    assert "regressed" in texts
    [proposed] = [e for e in timeline if e.kind == "mitigation.proposed"]
    assert f"would roll back ECS service {scene.cluster}/{scene.service} from {scene.family}:2" in json.dumps(
        proposed.data
    )
    assert f"alarm {scene.alarm} is OK" in texts
    assert [e.data.get("to") for e in timeline if e.kind == "status.changed"][-1] == "resolved"
    assert env.get(incident.id).title == f"{scene.alarm} on ECS {scene.cluster}/{scene.service}"


def test_an_asg_saturation_alarm_scales_out_within_max_size_after_approval(env: Store) -> None:
    scene = aws_scene.asg_saturation(desired=2, max_size=6)
    alert = alarm_through_sns(scene.alarm, "AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": scene.group})
    key = f"asg-saturation:{scene.group}"
    with clears_when(scene.alarm, lambda: scene.desired() > 2):
        thread = FlowThread(
            runbook="asg-saturation", params={"verify_within": "20s"}, alert=alert, dedup_key=key
        )
        thread.start()
        incident = wait_for_incident(env, key)
        gate = wait_for_gate(incident.id)
        assert gate.proposal == "scale_out" and scene.desired() == 2
        outcome = answer_gate(env, incident.id, approver="bob", code=code("bob"), reason="CPU pegged")
        assert outcome.verdict == "granted", outcome.text
        result = thread.finish()
    assert thread.error is None, thread.error
    assert result.outcome == "resolved"
    assert scene.desired() == 3  # +50% of 2
    texts = "\n".join(e.text for e in env.timeline(incident.id))
    assert f"scaled Auto Scaling group {scene.group} from 2 to 3 instances" in texts
    assert env.get(incident.id).severity.value == "P3"


def test_an_alarm_for_a_service_that_does_not_exist_is_a_clear_finding_and_changes_nothing(
    env: Store,
) -> None:
    alert = alarm_through_sns(
        "ghost-5xx", "Checkout", "Http5xxRate", {"ClusterName": "prod", "ServiceName": "ghost"}
    )
    key = "ecs-bad-deploy:ghost"
    thread = FlowThread(runbook="ecs-bad-deploy", params={"verify_within": "1s"}, alert=alert, dedup_key=key)
    thread.start()
    result = thread.finish()
    assert thread.error is None, thread.error
    incident = wait_for_incident(env, key)
    timeline = env.timeline(incident.id)
    texts = "\n".join(e.text for e in timeline)
    assert "no ECS service prod/ghost in eu-west-1" in texts
    assert "no CloudWatch alarm named 'ghost-5xx' in eu-west-1" in texts
    assert "Traceback" not in texts
    assert not [e for e in timeline if e.kind == "mitigation.proposed"]
    assert result.outcome != "resolved"
