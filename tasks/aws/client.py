"""One way to call AWS: a fresh boto3 session per client (the default session caches credentials and region
from when it was made), the default credential chain, the region from the step or the settings, and every
refusal turned into an ``AwsError`` that names the action and the resource."""

from __future__ import annotations

import threading
from typing import Any

from tasks.aws.settings import AwsSettings
from warroom.settings import get_settings

_lock = threading.Lock()
_count = [0]


class AwsError(Exception):
    """AWS refused or was not reached; ``code`` is AWS's error code (or ours: NoCredentials, NoRegion)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLED


THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}


def client(service: str, region: str | None) -> Any:
    import boto3  # here: every step module is imported when the registry loads, and boto3 is slow to import
    from botocore.config import Config

    chosen = region or get_settings().of(AwsSettings).region
    session = boto3.session.Session()
    if not (chosen or session.region_name):
        raise AwsError(
            f"{service}: no AWS region (give the step a region, or set WARROOM_AWS_REGION or AWS_REGION)",
            "NoRegion",
        )
    # Standard retry mode backs off on throttling; AWS_MAX_ATTEMPTS (the SDK's own setting) still wins.
    return session.client(service, region_name=chosen, config=Config(retries={"mode": "standard"}))


def call(api: Any, action: str, resource: str, **kwargs: Any) -> dict[str, Any]:
    """``api.<action>(**kwargs)``; AWS's refusals become an AwsError naming the action and the resource."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    method = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
    service = api.meta.service_model.service_name
    where = f"{service} {action} on {resource} in {api.meta.region_name}"
    with _lock:
        _count[0] += 1
    try:
        return dict(getattr(api, method)(**kwargs))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        message = str(error.get("Message") or "").strip()
        if code in THROTTLED:
            hint = " (AWS throttled the call after the SDK's retries; try again shortly)"
        elif code in DENIED:
            hint = " (the credentials Warroom runs with may not do this: grant the action in IAM)"
        else:
            hint = ""
        raise AwsError(f"{where}: {code}: {message}{hint}".rstrip(": "), code) from None
    except NoCredentialsError:
        raise AwsError(f"{where}: no AWS credentials found", "NoCredentials") from None
    except NoRegionError:
        raise AwsError(f"{where}: no AWS region", "NoRegion") from None
    except EndpointConnectionError as exc:
        raise AwsError(
            f"{where}: cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}", "Unreachable"
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"{where}: {exc}", type(exc).__name__) from None


def calls_made() -> int:
    """API calls this process has made so far (the benchmarks count a step's calls with it)."""
    with _lock:
        return _count[0]
