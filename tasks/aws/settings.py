"""Where the AWS steps and the AppConfig and SSM flag providers act: the region (credentials: the SDK's)."""

from __future__ import annotations

from pydantic import Field

from warroom.settings import IntegrationSettings, integration_config


class AwsSettings(IntegrationSettings):
    """AWS (the `aws.*` steps, AppConfig and SSM flags)"""

    model_config = integration_config("aws")

    region: str | None = Field(
        default=None, description="AWS region; default: the AWS SDK's own (AWS_REGION, the profile)"
    )
