"""A team's own step, loaded through the `step_modules` setting: scale the loopback service."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field

from tasks.step import step
from warroom.steps import ChangeResult, StepKind
from warroom.tls import tls_context


class ServiceScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    replicas: int = Field(ge=1, le=50, description="How many replicas to run")


class ServiceScaleResult(ChangeResult):
    replicas: int


@step("svc.scale", StepKind.MITIGATION)
def scale(params: ServiceScaleParams, dry_run: bool = False) -> ServiceScaleResult:
    """Set the service's replica count through its admin endpoint. Changes production capacity."""
    before = httpx.get(f"{params.url}/replicas", timeout=5, verify=tls_context()).json()["replicas"]
    if dry_run:
        return ServiceScaleResult(
            applied=False,
            dry_run=True,
            replicas=params.replicas,
            summary=f"would scale from {before} to {params.replicas} replicas",
            way_back=f"scale back to {before} replicas",
        )
    resp = httpx.post(
        f"{params.url}/scale", json={"replicas": params.replicas}, timeout=5, verify=tls_context()
    )
    if resp.status_code == 409:  # the service declined: a result that says nothing was changed
        return ServiceScaleResult(
            applied=False,
            replicas=before,
            summary=f"the service declined to scale: {resp.json()['error']}",
            way_back="nothing to undo",
            error=resp.json()["error"],
        )
    resp.raise_for_status()
    return ServiceScaleResult(
        applied=True,
        replicas=resp.json()["replicas"],
        summary=f"scaled from {before} to {params.replicas} replicas",
        way_back=f"scale back to {before} replicas",
    )
