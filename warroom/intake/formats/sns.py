"""CloudWatch alarms delivered by Amazon SNS over HTTP: signature checks, subscription confirmation, parsing.

The format is named ``sns`` (the receiver's path); the alerts it yields have the source ``cloudwatch``.

Every SNS message is signed; the signing certificate and the subscription URL are only ever fetched from
URLs that match the trusted SNS endpoint pattern (settings), so a forged message cannot make Warroom
fetch an arbitrary URL.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from warroom.intake.alert import Alert, AlertStatus, PayloadError, decode_json
from warroom.intake.formats.base import AlertFormat, Parsed, validate
from warroom.settings import IntegrationSettings, Settings, integration_config
from warroom.tls import tls_context


class SnsSettings(IntegrationSettings):
    """CloudWatch alarms through SNS (the `sns` format)"""

    model_config = integration_config("sns")

    trusted_url_pattern: str = Field(
        default=r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/",
        description="Only URLs matching this are fetched (signing certificates, SubscribeURL)",
    )
    regions: list[str] = Field(default_factory=list, description="SNS regions accepted; empty: any")


# Regions are the settings' business; this matches any of them.
DEFAULT_TRUSTED = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"


class SnsEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    MessageId: str
    TopicArn: str
    Message: str
    Timestamp: str
    SignatureVersion: Literal["1", "2"]
    Signature: str
    SigningCertURL: str
    Subject: str | None = None
    SubscribeURL: str | None = None
    Token: str | None = None


def string_to_sign(msg: SnsEnvelope) -> bytes:
    """The canonical text AWS signs, per message type (the SNS developer guide's field order)."""
    if msg.Type == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    parts = []
    for key in keys:
        value = getattr(msg, key)
        if value is None:
            if key == "Subject":
                continue
            raise PayloadError(key, "required to check the signature")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode()


class SnsVerifier:
    """Checks SNS signatures with certificates fetched (and cached) from trusted SNS endpoints only."""

    def __init__(self, trusted_pattern: str = DEFAULT_TRUSTED, regions: list[str] | None = None) -> None:
        self.trusted = re.compile(trusted_pattern)
        self.regions = set(regions or [])
        self._certs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def trusted_url(self, url: str) -> bool:
        if not self.trusted.match(url):
            return False
        if self.regions:
            m = re.match(r"^https://sns\.([a-z0-9-]+)\.amazonaws\.com", url)
            if m and m.group(1) not in self.regions:
                return False
        return True

    def _public_key(self, url: str) -> Any:
        from cryptography import x509

        with self._lock:
            if url in self._certs:
                return self._certs[url]
        import httpx  # here, not at the top: every `warroom` command loads the format registry

        try:
            resp = httpx.get(url, timeout=5, verify=tls_context())
            resp.raise_for_status()
            cert = x509.load_pem_x509_certificate(resp.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise PayloadError(
                "SigningCertURL", f"cannot fetch the signing certificate: {exc}", 401
            ) from None
        with self._lock:
            self._certs[url] = cert.public_key()
        return cert.public_key()

    def verify(self, msg: SnsEnvelope) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if not self.trusted_url(msg.SigningCertURL):
            raise PayloadError("SigningCertURL", "not a trusted SNS endpoint", 401)
        key = self._public_key(msg.SigningCertURL)
        algorithm = hashes.SHA1() if msg.SignatureVersion == "1" else hashes.SHA256()  # noqa: S303 - SNS v1
        try:
            key.verify(base64.b64decode(msg.Signature), string_to_sign(msg), padding.PKCS1v15(), algorithm)
        except (InvalidSignature, ValueError):
            raise PayloadError("Signature", "the SNS signature does not verify", 401) from None

    def confirm(self, msg: SnsEnvelope) -> None:
        """Answer a SubscriptionConfirmation by fetching its SubscribeURL, only from a trusted endpoint."""
        url = msg.SubscribeURL or ""
        if not self.trusted_url(url):
            raise PayloadError("SubscribeURL", "not a trusted SNS endpoint for the configured regions", 403)
        import httpx

        try:
            httpx.get(url, timeout=10, verify=tls_context()).raise_for_status()
        except httpx.HTTPError as exc:
            raise PayloadError("SubscribeURL", f"confirmation failed: {exc}", 502) from None


class _Dimension(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    value: str | None = None


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="allow")

    MetricName: str | None = None
    Namespace: str | None = None
    Dimensions: list[_Dimension] = Field(default_factory=list)


class CloudWatchAlarm(BaseModel):
    model_config = ConfigDict(extra="allow")

    AlarmName: str
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    NewStateReason: str | None = None
    StateChangeTime: datetime | None = None
    AlarmDescription: str | None = None
    AWSAccountId: str | None = None
    Region: str | None = None
    AlarmArn: str | None = None
    OldStateValue: str | None = None
    Trigger: _Trigger | None = None


def parse_alarm(msg: SnsEnvelope) -> list[Alert]:
    """ALARM fires, OK resolves; INSUFFICIENT_DATA is kept in the ledger but acted on by nobody."""
    try:
        data = json.loads(msg.Message)
    except json.JSONDecodeError as exc:
        raise PayloadError("Message", f"not a CloudWatch alarm (JSON expected): {exc.msg}") from None
    alarm = validate(CloudWatchAlarm, data)
    if alarm.NewStateValue == "INSUFFICIENT_DATA":
        return []
    labels = {"alertname": alarm.AlarmName, "source": "cloudwatch"}
    for key, value in (("region", alarm.Region), ("account", alarm.AWSAccountId)):
        if value:
            labels[key] = value
    arn = (alarm.AlarmArn or "").split(":")
    if len(arn) > 3 and arn[0] == "arn" and arn[3]:
        labels["aws_region"] = arn[
            3
        ]  # "Region" is a display name (US East (N. Virginia)); steps need the code
    if alarm.Trigger is not None:
        if alarm.Trigger.MetricName:
            labels["metric"] = alarm.Trigger.MetricName
        if alarm.Trigger.Namespace:
            labels["namespace"] = alarm.Trigger.Namespace
        for d in alarm.Trigger.Dimensions:
            if d.name and d.value is not None:
                labels[d.name] = d.value
    status = AlertStatus.FIRING if alarm.NewStateValue == "ALARM" else AlertStatus.RESOLVED
    return [
        Alert(
            source="cloudwatch",
            status=status,
            labels=labels,
            annotations={
                k: v
                for k, v in (("summary", alarm.NewStateReason), ("description", alarm.AlarmDescription))
                if v
            },
            starts_at=alarm.StateChangeTime,
            ends_at=alarm.StateChangeTime if status is AlertStatus.RESOLVED else None,
            fingerprint=alarm.AlarmArn or alarm.AlarmName,
            extra={"topic_arn": msg.TopicArn, "message_id": msg.MessageId, "old_state": alarm.OldStateValue},
        )
    ]


class Sns(AlertFormat):
    name = "sns"
    title = "CloudWatch alarms through Amazon SNS"

    def __init__(self) -> None:
        self._verifiers: dict[tuple[str, tuple[str, ...]], SnsVerifier] = {}
        self._lock = threading.Lock()

    def verifier(self, settings: Settings) -> SnsVerifier:
        """One verifier (and its certificate cache) per trusted pattern and region list."""
        sns = settings.of(SnsSettings)
        key = (sns.trusted_url_pattern, tuple(sns.regions))
        with self._lock:
            if key not in self._verifiers:
                self._verifiers[key] = SnsVerifier(key[0], list(key[1]))
            return self._verifiers[key]

    def authenticate(self, headers: Mapping[str, str], body: bytes, settings: Settings) -> None:
        """AWS signs every message: the signature is checked before the body is stored, so an unsigned
        post costs the receiver nothing. A PayloadError says what is wrong (400 malformed, 401 unsigned)."""
        self.envelope(decode_json(body), settings)

    def credentials(self, body: bytes, settings: Settings) -> dict[str, str]:
        return {}  # a replayed SNS message carries AWS's own signature

    def envelope(self, data: Any, settings: Settings) -> SnsEnvelope:
        envelope: SnsEnvelope = validate(SnsEnvelope, data)
        self.verifier(settings).verify(envelope)
        return envelope

    def handshake(self, data: Any, settings: Settings) -> str | None:
        return self._answer(self.envelope(data, settings), settings)

    def parse(self, data: Any, settings: Settings) -> list[Alert]:
        return parse_alarm(self.envelope(data, settings))

    def replayed(self, data: Any, settings: Settings) -> list[Alert]:
        envelope: SnsEnvelope = validate(SnsEnvelope, data)  # no certificate fetched: a game day is offline
        return [] if envelope.Type != "Notification" else parse_alarm(envelope)

    def receive(self, data: Any, settings: Settings) -> Parsed:
        envelope = self.envelope(data, settings)  # verified once for the handshake and the parse
        note = self._answer(envelope, settings)
        if note is not None:
            return Parsed([], note)
        alerts = parse_alarm(envelope)
        return Parsed(alerts, None if alerts else "INSUFFICIENT_DATA: recorded, not acted on")

    def _answer(self, envelope: SnsEnvelope, settings: Settings) -> str | None:
        if envelope.Type == "SubscriptionConfirmation":
            self.verifier(settings).confirm(envelope)
            return f"subscribed to {envelope.TopicArn}"
        if envelope.Type == "UnsubscribeConfirmation":
            return f"unsubscribed from {envelope.TopicArn}"
        return None


FORMAT = Sns()
