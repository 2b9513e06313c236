"""AWS steps (boto3): CloudWatch alarms and metrics, ECS services, EC2 Auto Scaling groups."""

from tasks.aws import asg, cloudwatch, ecs

__all__ = ["asg", "cloudwatch", "ecs"]
