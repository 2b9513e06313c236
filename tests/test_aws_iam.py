"""The IAM policy shipped in deployments/aws/iam-policy.json is exactly what the AWS steps and flag providers
need. Each action it grants is one the code calls, and each call the code makes is granted. Every AWS step
also runs under that policy alone, with moto enforcing IAM, and without it the same call is denied."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests import aws_scene
from tests.aws_scene import session
from tests.conftest import REPO
from tests.moto_server import aws_env, running_moto

POLICY = REPO / "deployments" / "aws" / "iam-policy.json"
# boto3's service name -> IAM's action prefix, for the services Warroom calls.
IAM_PREFIX = {
    "application-autoscaling": "application-autoscaling",
    "appconfig": "appconfig",
    "autoscaling": "autoscaling",
    "cloudwatch": "cloudwatch",
    "ecs": "ecs",
    "ssm": "ssm",
}


def _granted() -> set[str]:
    statements = json.loads(POLICY.read_text())["Statement"]
    out: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        out |= {actions} if isinstance(actions, str) else set(actions)
    return out


def _called() -> set[str]:
    """Every AWS operation the code names (``call(api, "DescribeServices", ...)``), as IAM actions: each
    looked up in botocore's models of the services its module makes clients for (all of them for a module
    handed its client)."""
    operations = {
        svc: set(
            boto3.session.Session(region_name="eu-west-1").client(svc).meta.service_model.operation_names
        )
        for svc in IAM_PREFIX
    }
    out = set()
    for path in [
        *(REPO / "tasks" / "aws").glob("*.py"),
        *(REPO / "tasks" / "flags" / "providers").glob("*.py"),
    ]:
        text = path.read_text()
        made = set(re.findall(r'client\(\s*"([a-z-]+)"', text)) & set(IAM_PREFIX) or set(IAM_PREFIX)
        # Every call goes through one helper taking (client, "Operation", ...): call, _call, _by_name.
        for name in re.findall(r'\b\w+\(\s*\w+,\s*"([A-Z][a-z]+(?:[A-Z][a-z]+)+)"', text):
            owners = [svc for svc in made if name in operations[svc]]
            assert owners, f"{path.name}: {name} is an operation of none of {sorted(made)}"
            out |= {f"{IAM_PREFIX[svc]}:{name}" for svc in owners}
    return out


def test_the_policy_grants_exactly_the_calls_the_code_makes() -> None:
    granted, called = _granted() - {"iam:PassRole"}, _called()
    assert called - granted == set(), "calls the shipped policy does not grant"
    assert granted - called == set(), "grants no step or provider uses"


def _as_moto_reads_it(policy: str) -> str:
    """The shipped policy with each `cloudwatch:` action also as `monitoring:`: moto checks CloudWatch calls
    against the service's endpoint prefix, where AWS checks the `cloudwatch:` action the policy grants."""
    document = json.loads(policy)
    for statement in document["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        statement["Action"] = actions + [
            a.replace("cloudwatch:", "monitoring:") for a in actions if "cloudwatch:" in a
        ]
    return json.dumps(document)


def _user(iam: Any, name: str, policy: str | None) -> dict[str, str]:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="warroom", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_every_aws_step_runs_under_the_shipped_policy_alone_and_is_denied_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks.aws.asg import asg_activity, asg_scale
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
    from tasks.flags import steps as flag_steps
    from tasks.flags.models import FlagParams

    with running_moto() as endpoint:  # its own: IAM is enforced on it from the middle of this test
        for key, value in aws_env(endpoint).items():
            monkeypatch.setenv(key, value)
        ecs = aws_scene.ecs_bad_deploy(revisions=3)
        target = f"service/{ecs.cluster}/{ecs.service}"
        session().client("application-autoscaling").register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=target,
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=2,
            MaxCapacity=5,
        )
        asg = aws_scene.asg_saturation(desired=2, max_size=4)
        document = {"values": {"checkout": {"enabled": True}}}
        session().client("ssm").put_parameter(
            Name="/shop/production", Value=json.dumps(document), Type="String"
        )
        iam = session().client("iam")
        warroom = _user(iam, "warroom", _as_moto_reads_it(POLICY.read_text()))
        nobody = _user(iam, "nobody", None)
        assert httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").status_code == 200

        # Enforcement is on: a user without the policy is denied, in the step's own words.
        for key, value in nobody.items():
            monkeypatch.setenv(key, value)
        denied = ecs_rollback(EcsRollbackParams(cluster=ecs.cluster, service=ecs.service), dry_run=True)
        assert not denied.applied and "ecs DescribeServices" in denied.summary, denied.summary
        # moto answers a JSON-protocol service's denial with an XML body, so botocore sees only the 403.
        assert denied.error in ("AccessDenied", "AccessDeniedException", "403"), denied

        for key, value in warroom.items():
            monkeypatch.setenv(key, value)
        ref = {"cluster": ecs.cluster, "service": ecs.service}
        assert ecs_service(EcsServiceParams(**ref)).task_definition == f"{ecs.family}:3"
        assert ecs_rollback(EcsRollbackParams(**ref), dry_run=True).error is None
        rolled = ecs_rollback(EcsRollbackParams(**ref, wait="10s"))
        assert rolled.made, rolled.summary
        assert ecs_scale(EcsScaleParams(**ref, change="+1"), dry_run=True).error is None
        scaled = ecs_scale(EcsScaleParams(**ref, change="+1", wait="0s"))
        assert scaled.made, scaled.summary
        assert asg_activity(AsgActivityParams(group=asg.group)).desired == 2
        assert asg_scale(AsgScaleParams(group=asg.group, change="+1"), dry_run=True).error is None
        assert asg_scale(AsgScaleParams(group=asg.group, change="+1", wait="0s")).made
        alarm = cloudwatch_alarm(AlarmParams(alarm=ecs.alarm))
        assert alarm.state == "ALARM" and "AccessDenied" not in (alarm.history_error or "")
        assert not alarm_check(AlarmCheckParams(alarm=ecs.alarm, within="0s")).ok
        window = {
            "namespace": ecs.namespace,
            "metric": ecs.metric,
            "dimensions": ecs.dimensions,
            "window": "15m",
        }
        assert cloudwatch_baseline(MetricBaselineParams(**window)).regressed
        flag = FlagParams(provider="ssm", flag="checkout", project="shop")
        assert flag_steps.status(flag).enabled
        assert flag_steps.disable(flag).applied


def test_the_readme_names_the_policy_file() -> None:
    assert "deployments/aws/iam-policy.json" in (REPO / "README.md").read_text()
    assert Path(POLICY).exists()
