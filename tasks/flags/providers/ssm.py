"""AWS Systems Manager Parameter Store: flags kept as one JSON document per environment, in AWS
AppConfig's feature-flag shape (``{"flags": {...}, "values": {"FLAG": {"enabled": true}}, "version": "1"}``),
in the parameter ``/{project}/{environment}`` (project default ``feature-flags``). Switching a flag writes
a new version of the parameter with only that flag's ``enabled`` changed."""

from __future__ import annotations

import json
from typing import Any

from tasks.aws.settings import AwsSettings
from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef
from warroom.settings import Settings

DEFAULT_PROJECT = "feature-flags"


def parameter_name(ref: FlagRef) -> str:
    return f"/{ref.project or DEFAULT_PROJECT}/{ref.environment}"


class Ssm(FlagProvider):
    name = "ssm"

    def _client(self, settings: Settings) -> Any:
        import boto3  # here: every step module is imported when the registry loads
        from botocore.exceptions import NoRegionError

        aws = settings.of(AwsSettings)
        try:
            # A session of its own: the default one caches credentials and region from when it was made.
            return boto3.session.Session().client("ssm", region_name=aws.region)
        except NoRegionError:
            raise FlagError("SSM: no AWS region (set WARROOM_AWS_REGION or AWS_REGION)") from None

    def _document(self, client: Any, ref: FlagRef) -> tuple[dict[str, Any], dict[str, Any]]:
        name = parameter_name(ref)
        parameter = _call(client, "GetParameter", name, Name=name, WithDecryption=True)["Parameter"]
        try:
            document = json.loads(parameter["Value"])
        except json.JSONDecodeError as exc:
            raise FlagError(f"SSM parameter {name} is not a JSON flag document: {exc.msg}") from None
        values = document.get("values") if isinstance(document, dict) else None
        if not isinstance(values, dict) or not isinstance(values.get(ref.flag), dict):
            known = ", ".join(sorted(values)) if isinstance(values, dict) else "none"
            raise FlagError(f"SSM parameter {name} has no flag {ref.flag!r} (flags: {known})")
        return document, parameter

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        client = self._client(settings)
        document, parameter = self._document(client, ref)
        name = parameter_name(ref)
        history = _call(client, "GetParameterHistory", name, Name=name, MaxResults=50).get("Parameters") or []
        who = str(history[-1].get("LastModifiedUser") or "") or None if history else None
        return FlagReading(
            bool(document["values"][ref.flag].get("enabled")),
            [f"version {parameter.get('Version')}"],
            parameter.get("LastModifiedDate"),
            who,
        )

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        client = self._client(settings)
        document, parameter = self._document(client, ref)
        document["values"][ref.flag]["enabled"] = enabled
        name = parameter_name(ref)
        _call(
            client,
            "PutParameter",
            name,
            Name=name,
            Value=json.dumps(document, separators=(",", ":")),
            Type=parameter.get("Type") or "String",
            Overwrite=True,
        )


def _call(client: Any, action: str, resource: str, **kwargs: Any) -> dict[str, Any]:
    """One SSM call; AWS's refusals (not found, access denied, throttled, no credentials or region)
    become a FlagError naming the action and the parameter."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    method = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
    try:
        return dict(getattr(client, method)(**kwargs))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        if code == "ParameterNotFound":
            raise FlagError(
                f"no SSM parameter {resource} in {client.meta.region_name} (the flag document of this "
                "environment)"
            ) from None
        raise FlagError(f"SSM {action} on {resource}: {code}: {error.get('Message', '')}".strip()) from None
    except NoCredentialsError:
        raise FlagError(f"SSM {action} on {resource}: no AWS credentials found") from None
    except NoRegionError:
        raise FlagError(f"SSM {action} on {resource}: no AWS region (set WARROOM_AWS_REGION)") from None
    except BotoCoreError as exc:
        raise FlagError(f"SSM {action} on {resource}: {exc}") from None


PROVIDER = Ssm()
