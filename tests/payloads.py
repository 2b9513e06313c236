"""Realistic alert payloads, written from the vendors' documented webhook formats."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any


def alertmanager(
    alertname: str = "HighErrorRate",
    fingerprint: str = "7c1ab3e3f2a1b0c9",
    status: str = "firing",
    labels: dict[str, str] | None = None,
    starts_at: str = "2026-11-27T06:00:00.000Z",
) -> dict[str, Any]:
    alert_labels = {
        "alertname": alertname,
        "severity": "critical",
        "deployment": "checkout",
        "namespace": "shop",
        **(labels or {}),
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "warroom",
        "groupLabels": {"alertname": alertname},
        "commonLabels": alert_labels,
        "commonAnnotations": {"runbook_url": "https://runbooks.example/high-error-rate"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": "5xx ratio above 5% for 5m", "description": "checkout is failing"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T06:30:00.000Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
                "fingerprint": fingerprint,
            }
        ],
    }


def grafana() -> dict[str, Any]:
    body = alertmanager(alertname="DiskLatency", fingerprint="gf0123456789abcd")
    body.update(
        {
            "version": "1",
            "orgId": 1,
            "title": "[FIRING:1] DiskLatency",
            "state": "alerting",
            "message": "**Firing**\nValue: B=42",
        }
    )
    body["alerts"][0].update(
        {
            "values": {"B": 42.0, "C": 1},
            "dashboardURL": "http://grafana.example/d/abc",
            "panelURL": "http://grafana.example/d/abc?viewPanel=2",
            "silenceURL": "http://grafana.example/alerting/silence/new",
            "valueString": "[ var='B' labels={} value=42 ]",
        }
    )
    return body


def pagerduty(event_type: str = "incident.triggered") -> dict[str, Any]:
    return {
        "event": {
            "id": "01DEN0EP4D40NK2LYC2L8LWK1P",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-27T06:05:00.000Z",
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "self": "https://api.pagerduty.com/users/PLH1HKV",
                "summary": "Tenex Engineer",
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": "PGR0VU2",
                "type": "incident",
                "self": "https://api.pagerduty.com/incidents/PGR0VU2",
                "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                "number": 2,
                "status": "triggered" if event_type != "incident.resolved" else "resolved",
                "incident_key": "d3640fbd41094207a1c11e58e46b1662",
                "created_at": "2026-11-27T06:04:00Z",
                "title": "Checkout latency over SLO",
                "service": {
                    "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                    "id": "PF9KMXH",
                    "self": "https://api.pagerduty.com/services/PF9KMXH",
                    "summary": "checkout",
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": {
                    "id": "PTNVR5Z",
                    "summary": "Engineering",
                    "type": "escalation_policy_reference",
                },
                "teams": [],
                "priority": {"id": "PSO75BM", "summary": "P1", "type": "priority_reference"},
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def cloudwatch_alarm(state: str = "ALARM") -> dict[str, Any]:
    return {
        "AlarmName": "api-5xx-high",
        "AlarmDescription": "API 5xx above 1%",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-01T10:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (1.0).",
        "StateChangeTime": "2026-11-27T06:07:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:api-5xx-high",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [{"value": "app/api/50dc6c495c0c9188", "name": "LoadBalancer"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 1.0,
        },
    }


class SnsSigner:
    """Signs SNS messages the way AWS does, with a test key whose certificate a loopback server serves."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        (directory / "cert.pem").write_bytes(self.pem)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        from warroom.intake.formats.sns import SnsEnvelope, string_to_sign

        out = copy.deepcopy(message)
        out["SignatureVersion"] = version
        out["Signature"] = "placeholder"
        text = string_to_sign(SnsEnvelope.model_validate(out))
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        out["Signature"] = base64.b64encode(self.key.sign(text, padding.PKCS1v15(), algorithm)).decode()
        return out


def sns_notification(cert_url: str, alarm: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:warroom-alarms",
        "Subject": 'ALARM: "api-5xx-high" in US East (N. Virginia)',
        "Message": json.dumps(alarm),
        "Timestamp": "2026-11-27T06:07:01.000Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }


def sns_subscription(cert_url: str, subscribe_url: str) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd6",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:warroom-alarms",
        "Message": "You have chosen to subscribe to the topic "
        "arn:aws:sns:us-east-1:123456789012:warroom-alarms."
        "\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-27T06:00:00.000Z",
        "SigningCertURL": cert_url,
    }
