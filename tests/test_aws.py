"""The AWS steps against moto in server mode (a separate process on loopback): CloudWatch alarms and
metrics, ECS services rolled back and scaled, Auto Scaling groups scaled; and AWS's refusals (unknown
resources, no credentials, access denied, throttling) as results that name the action and the resource.
What moto does not do, and how the scenes stand in for it, is in tests/aws_scene.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError

from tasks.aws.asg import asg_activity, asg_scale
from tasks.aws.client import AwsError
from tasks.aws.cloudwatch import alarm_check, cloudwatch_alarm, cloudwatch_baseline
from tasks.aws.ecs import ecs_rollback, ecs_scale, ecs_service
from tasks.aws.models import (
    AlarmCheckParams,
    AlarmParams,
    AsgActivityParams,
    AsgScaleParams,
    EcsRollbackParams,
    EcsScaleParams,
    EcsServiceParams,
    MetricBaselineParams,
)
from tests import aws_scene
from tests.aws_scene import session


def _ecs(scene: aws_scene.EcsScene) -> dict[str, str]:
    return {"cluster": scene.cluster, "service": scene.service}


def test_ecs_service_names_the_task_definition_before_the_deploy_and_what_changed(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    result = ecs_service(EcsServiceParams(**_ecs(scene)))
    assert result.task_definition == f"{scene.family}:2"
    assert result.previous_task_definition == f"{scene.family}:1"
    assert result.images == ["app=registry.local/checkout:2.0"]
    assert result.previous_images == ["app=registry.local/checkout:1.0"]
    assert "app.image: 'registry.local/checkout:1.0' -> 'registry.local/checkout:2.0'" in result.differences
    assert "app.environment changed: FAST_PATH" in result.differences  # names, never values
    assert result.steady and not result.rollout_failed and (result.running, result.desired) == (2, 2)
    assert result.last_change_minutes is not None and result.last_change_minutes < 5
    assert f"runs {scene.family}:2 (before: {scene.family}:1)" in result.summary


def test_ecs_rollback_dry_run_shows_the_plan_and_changes_nothing(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    plan = ecs_rollback(EcsRollbackParams(**_ecs(scene)), dry_run=True)
    assert plan.dry_run and not plan.applied and plan.error is None
    service = f"ECS service {scene.cluster}/{scene.service}"
    assert f"would roll back {service} from {scene.family}:2 to {scene.family}:1" in plan.summary
    assert "checkout:2.0' -> 'registry.local/checkout:1.0'" in plan.summary
    assert plan.way_back.endswith(f"--task-definition {scene.family}:2")
    assert scene.task_definition() == f"{scene.family}:2"


def test_ecs_rollback_returns_to_the_previous_task_definition_and_waits_for_steady_state(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy(revisions=3)
    result = ecs_rollback(EcsRollbackParams(**_ecs(scene), wait="20s"))
    assert result.made and result.ready, result.summary
    assert scene.task_definition() == f"{scene.family}:2"
    assert result.before["task_definition"] == f"{scene.family}:3"
    assert result.after["task_definition"] == f"{scene.family}:2"
    assert "settled: 2/2 tasks running" in result.summary
    # Named: back to revision 1; a revision of another family is refused.
    named = ecs_rollback(EcsRollbackParams(**_ecs(scene), task_definition=f"{scene.family}:1", wait="0s"))
    assert named.made and scene.task_definition() == f"{scene.family}:1" and named.state == "not waited for"
    other = aws_scene.ecs_bad_deploy()
    refused = ecs_rollback(EcsRollbackParams(**_ecs(scene), task_definition=f"{other.family}:1"))
    assert not refused.applied and refused.error == "refused"
    assert f"{other.family}:1 is not a revision of {scene.family}" in refused.summary
    assert scene.task_definition() == f"{scene.family}:1"


def test_ecs_rollback_with_nothing_earlier_is_refused(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy(revisions=1)
    result = ecs_rollback(EcsRollbackParams(**_ecs(scene)))
    assert not result.applied and result.error == "refused"
    assert (
        f"{scene.family} has no earlier ACTIVE revision; name one in task_definition; nothing changed"
        in result.summary
    )


def test_an_ecs_rollback_that_does_not_settle_is_made_but_not_ready(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy(desired=4)  # moto reports 2 of 4 running, IN_PROGRESS, for ever
    result = ecs_rollback(EcsRollbackParams(**_ecs(scene), wait="2s"))
    assert result.made and result.ready is False
    assert "not settled within 2s: 2/4 tasks running" in result.summary
    assert scene.task_definition() == f"{scene.family}:1"


def test_ecs_scale_raises_the_application_auto_scaling_floor_and_clamps_to_its_maximum(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    resource = f"service/{scene.cluster}/{scene.service}"
    scaling = session().client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=2,
        MaxCapacity=5,
    )
    plan = ecs_scale(EcsScaleParams(**_ecs(scene), change="x3"), dry_run=True)
    assert plan.dry_run and not plan.applied
    assert "would scale" in plan.summary and "from 2 to 5 tasks" in plan.summary
    assert "MaxCapacity 5 caps it" in plan.summary
    result = ecs_scale(EcsScaleParams(**_ecs(scene), change="x3", wait="10s"))
    assert result.made and result.ready, result.summary
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (5, 5)
    svc = (
        session()
        .client("ecs")
        .describe_services(cluster=scene.cluster, services=[scene.service])["services"][0]
    )
    assert svc["desiredCount"] == 5
    assert "--desired-count 2" in result.way_back and "--min-capacity 2" in result.way_back
    down = ecs_scale(EcsScaleParams(**_ecs(scene), change="-1"))
    assert not down.applied and "scaling in is its job" in down.summary


def test_ecs_scale_without_a_scalable_target_sets_the_desired_count_within_bounds(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    result = ecs_scale(EcsScaleParams(**_ecs(scene), change="+50%", maximum=3, wait="0s"))
    assert result.made and result.after == {"desired": 3}
    again = ecs_scale(EcsScaleParams(**_ecs(scene), change="+50%", maximum=3))
    assert not again.applied and "already wants 3 tasks (asked for 5, clamped to maximum 3)" in again.summary


def test_asg_activity_and_scale_out_within_the_groups_max_size(aws: str) -> None:
    scene = aws_scene.asg_saturation(desired=2, max_size=4)
    seen = asg_activity(AsgActivityParams(group=scene.group))
    assert (seen.desired, seen.in_service, seen.max_size, seen.at_max) == (2, 2, 4, False)
    plan = asg_scale(AsgScaleParams(group=scene.group, change="x3"), dry_run=True)
    assert plan.dry_run and "would scale" in plan.summary
    assert "from 2 to 4 instances (asked for 6, clamped to the group's MaxSize 4)" in plan.summary
    assert scene.desired() == 2
    result = asg_scale(AsgScaleParams(group=scene.group, change="x3", wait="20s"))
    assert result.made and result.ready and scene.desired() == 4, result.summary
    assert result.way_back.endswith(f"--auto-scaling-group-name {scene.group} --desired-capacity 2")
    at_max = asg_activity(AsgActivityParams(group=scene.group))
    assert at_max.at_max and at_max.in_service == 4
    again = asg_scale(AsgScaleParams(group=scene.group, change="+50%"))
    assert not again.applied and "raise its MaxSize (4) to go further" in again.summary


def test_alarm_state_is_read_and_its_missing_history_is_said_not_hidden(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    state = cloudwatch_alarm(AlarmParams(alarm=scene.alarm))
    assert state.state == "ALARM" and state.trouble and state.dimensions == scene.dimensions
    assert state.metric == scene.metric and state.threshold == 5.0
    # moto has no DescribeAlarmHistory (it answers 500): the state still comes through, with the reason.
    assert state.history_error is not None and "DescribeAlarmHistory" in state.history_error
    with pytest.raises(AwsError, match="no CloudWatch alarm named 'nope'"):
        cloudwatch_alarm(AlarmParams(alarm="nope"))


def test_alarm_check_waits_for_ok_and_fails_when_it_does_not_come(aws: str) -> None:
    scene = aws_scene.ecs_bad_deploy()
    stuck = alarm_check(AlarmCheckParams(alarm=scene.alarm, within="1s", every="200ms"))
    assert not stuck.ok and "is still ALARM after 1s" in stuck.reason
    threading.Timer(1.0, aws_scene.set_alarm, (scene.alarm, "OK")).start()
    cleared = alarm_check(AlarmCheckParams(alarm=scene.alarm, within="20s", hold="1s", every="200ms"))
    assert cleared.ok and cleared.state == "OK" and cleared.waited_seconds >= 1.0, cleared.reason


def test_metric_baseline_says_regressed_only_when_worse_by_the_factor(aws: str) -> None:
    bad = aws_scene.ecs_bad_deploy()
    params = {"namespace": bad.namespace, "metric": bad.metric, "dimensions": bad.dimensions, "window": "15m"}
    result = cloudwatch_baseline(MetricBaselineParams(**params))
    assert (
        result.regressed and result.current == pytest.approx(20.0) and result.baseline == pytest.approx(1.0)
    )
    assert result.ratio == pytest.approx(20.0) and "regressed" in result.summary
    assert not cloudwatch_baseline(MetricBaselineParams(**params, worse="lower")).regressed
    assert not cloudwatch_baseline(MetricBaselineParams(**params, min_change=50)).regressed
    fine = aws_scene.ecs_bad_deploy(regressed=False)
    calm = cloudwatch_baseline(MetricBaselineParams(**{**params, "dimensions": fine.dimensions}))
    assert not calm.regressed and "no worse" in calm.summary
    empty = cloudwatch_baseline(MetricBaselineParams(**{**params, "dimensions": {"ServiceName": "none"}}))
    assert not empty.regressed and "no data for the recent window" in empty.summary


def test_unknown_services_and_groups_are_refused_by_name_with_nothing_changed(aws: str) -> None:
    result = ecs_rollback(EcsRollbackParams(cluster="prod", service="ghost"))
    assert not result.applied and "nothing changed" in result.summary
    assert "ECS service prod/ghost" in result.summary and "eu-west-1" in result.summary
    with pytest.raises(AwsError, match="no Auto Scaling group ghost in eu-west-1"):
        asg_activity(AsgActivityParams(group="ghost"))
    scaled = asg_scale(AsgScaleParams(group="ghost", change="+1"))
    assert not scaled.applied and scaled.error == "NotFound"


def test_a_malformed_region_is_refused_before_any_call(aws: str) -> None:
    with pytest.raises(ValidationError, match="region"):
        EcsRollbackParams(cluster="prod", service="web", region="eu-west-1; rm -rf /")


def test_missing_credentials_are_a_refusal_not_a_traceback(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # the chain would ask 169.254.169.254 otherwise
    result = asg_scale(AsgScaleParams(group="web", change="+1"))
    assert not result.applied and result.error == "NoCredentials"
    assert "autoscaling DescribeAutoScalingGroups on Auto Scaling group web" in result.summary
    assert "no AWS credentials found; nothing changed" in result.summary


@contextmanager
def refusing_aws(code: str, message: str) -> Iterator[tuple[str, list[str]]]:
    """A loopback endpoint that answers every AWS JSON call with one error, as AWS does."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(self.headers.get("X-Amz-Target", ""))
            raw = json.dumps({"__type": code, "message": message}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("code", "message", "hint", "attempts"),
    [
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/warroom is not authorized to perform: ecs:DescribeServices",
            "grant the action in IAM",
            1,
        ),
        ("ThrottlingException", "Rate exceeded", "AWS throttled the call after the SDK's retries", 2),
    ],
)
def test_access_denied_and_throttling_name_the_action_and_resource(
    aws: str, monkeypatch: pytest.MonkeyPatch, code: str, message: str, hint: str, attempts: int
) -> None:
    with refusing_aws(code, message) as (url, hits):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        result = ecs_rollback(EcsRollbackParams(cluster="prod", service="checkout"))
    assert not result.applied and result.error == code
    assert "ecs DescribeServices on ECS service prod/checkout in eu-west-1" in result.summary
    assert message in result.summary and hint in result.summary and "nothing changed" in result.summary
    assert (
        hits == ["AmazonEC2ContainerServiceV20141113.DescribeServices"] * attempts
    )  # the SDK's retries only: no loop of our own waits on a refusal
