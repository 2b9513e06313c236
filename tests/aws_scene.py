"""AWS scenes in moto for the AWS steps, runbooks and benchmark: an ECS service right after a bad deploy,
and an Auto Scaling group under load, each with the CloudWatch alarm and metric that saw it.

What moto (5.2, server mode) lacks, and how the scenes stand in for it:
- ECS runs no tasks. A service reports MOTO_ECS_SERVICE_RUNNING (2, set in tests/moto_server.py) tasks
  running from its creation, its rollout COMPLETED when that covers the desired count, and UpdateService
  changes the service's taskDefinition (and runningCount with desiredCount) but never its deployments. So a
  service of 2 is steady after any change, a service of 3 or more never settles, and a deploy leaves no
  events and no second deployment. "Previous task definition" is then the family's previous revision.
- CloudWatch does not evaluate alarms (SetAlarmState stands in for it) and has no DescribeAlarmHistory (the
  step reports that it could not read the history).
- Auto Scaling launches instances InService at once and records no scaling activities.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from tests.moto_server import REGION


def session() -> Any:
    return boto3.session.Session(region_name=REGION)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_series(
    namespace: str, metric: str, dimensions: dict[str, str], points: list[tuple[int, float]]
) -> None:
    """Datapoints ``(minutes ago, value)``; one per minute."""
    now = dt.datetime.now(dt.UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": now - dt.timedelta(minutes=ago, seconds=30),
            "Value": value,
        }
        for ago, value in points
    ]
    cw = session().client("cloudwatch")
    for i in range(0, len(data), 20):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 20])


def alarm(name: str, namespace: str, metric: str, dimensions: dict[str, str], state: str = "ALARM") -> None:
    cw = session().client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=3,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: set {state}")


def set_alarm(name: str, state: str) -> None:
    session().client("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue=state, StateReason=f"test: {state}"
    )


def alarm_state(name: str) -> str:
    return str(
        session().client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
    )


@dataclass
class EcsScene:
    cluster: str
    service: str
    family: str
    alarm: str
    namespace: str = "Checkout"
    metric: str = "Http5xxRate"

    @property
    def dimensions(self) -> dict[str, str]:
        return {"ClusterName": self.cluster, "ServiceName": self.service}

    def task_definition(self) -> str:
        ecs = session().client("ecs")
        svc = ecs.describe_services(cluster=self.cluster, services=[self.service])["services"][0]
        return str(svc["taskDefinition"]).rsplit("/", 1)[-1]


def ecs_bad_deploy(*, revisions: int = 2, desired: int = 2, regressed: bool = True) -> EcsScene:
    """A service just moved from revision N-1 to N of its family (N's image is new and adds an env var);
    its 5xx rate is 20 for the last 14 minutes against 1 before, and its alarm is in ALARM."""
    scene = EcsScene(cluster=unique("prod"), service=unique("checkout"), family=unique("checkout"), alarm="")
    scene.alarm = f"{scene.service}-5xx"
    ecs = session().client("ecs")
    ecs.create_cluster(clusterName=scene.cluster)
    arns = []
    for n in range(1, revisions + 1):
        env = [{"name": "LOG_LEVEL", "value": "info"}] + (
            [{"name": "FAST_PATH", "value": "on"}] if n == revisions else []
        )
        container = {
            "name": "app",
            "image": f"registry.local/checkout:{n}.0",
            "memory": 256,
            "environment": env,
        }
        td = ecs.register_task_definition(family=scene.family, containerDefinitions=[container])
        arns.append(td["taskDefinition"]["taskDefinitionArn"])
    first = arns[-2] if revisions > 1 else arns[-1]
    ecs.create_service(
        cluster=scene.cluster, serviceName=scene.service, taskDefinition=first, desiredCount=desired
    )
    if revisions > 1:
        ecs.update_service(cluster=scene.cluster, service=scene.service, taskDefinition=arns[-1])
    recent = 20.0 if regressed else 1.0
    put_series(
        scene.namespace,
        scene.metric,
        scene.dimensions,
        [(m, recent) for m in range(0, 14)] + [(m, 1.0) for m in range(16, 30)],
    )
    alarm(scene.alarm, scene.namespace, scene.metric, scene.dimensions)
    return scene


@dataclass
class AsgScene:
    group: str
    alarm: str

    def desired(self) -> int:
        asg = session().client("autoscaling")
        return int(
            asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0][
                "DesiredCapacity"
            ]
        )


def asg_saturation(*, desired: int = 2, min_size: int = 1, max_size: int = 6) -> AsgScene:
    scene = AsgScene(group=unique("web"), alarm="")
    scene.alarm = f"{scene.group}-cpu-high"
    asg = session().client("autoscaling")
    template = unique("lt")
    session().client("ec2").create_launch_template(
        LaunchTemplateName=template,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=scene.group,
        LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        AvailabilityZones=[f"{REGION}a"],
    )
    alarm(scene.alarm, "AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": scene.group})
    return scene
