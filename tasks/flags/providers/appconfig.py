"""AWS AppConfig feature flags: a hosted configuration of type ``AWS.AppConfig.FeatureFlags``
(``{"flags": {...}, "values": {"FLAG": {"enabled": true}}, "version": "1"}``). ``project`` names the
application and, after a slash, the configuration profile (default ``feature-flags/flags``);
``environment`` is the AppConfig environment.

The flag's state is what is deployed to that environment (its latest deployment of the profile). Switching
it writes a new hosted version made from the deployed one with only that flag's ``enabled`` changed (locked
to the latest version number, so a concurrent edit is refused rather than overwritten), then deploys it with
the ``appconfig_strategy`` setting (default ``AppConfig.AllAtOnce``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from tasks.aws.client import AwsError, call, client
from tasks.aws.settings import AwsSettings
from tasks.flags.providers.base import FlagError, FlagProvider, FlagReading, FlagRef
from warroom.settings import IntegrationSettings, Settings, integration_config


class AppConfigSettings(IntegrationSettings):
    """AWS AppConfig flags (the `appconfig` provider)"""

    model_config = integration_config("appconfig")

    strategy: str = Field(
        default="AppConfig.AllAtOnce",
        description="Deployment strategy of a flag change (all at once: it is a kill switch)",
    )


DEFAULT_APPLICATION = "feature-flags"
DEFAULT_PROFILE = "flags"
LIVE = {"COMPLETE", "DEPLOYING", "BAKING", "VALIDATING"}


def names(ref: FlagRef) -> tuple[str, str]:
    application, _, profile = (ref.project or DEFAULT_APPLICATION).partition("/")
    return application, profile or DEFAULT_PROFILE


class Deployed:
    """Where one flag lives in AppConfig, and the document deployed there."""

    def __init__(self, api: Any, ref: FlagRef) -> None:
        self.api, self.ref = api, ref
        self.application, self.profile = names(ref)
        self.app_id = _by_name(api, "ListApplications", "application", self.application, {})
        scope = {"ApplicationId": self.app_id}
        where = f"application {self.application}"
        self.profile_id = _by_name(
            api, "ListConfigurationProfiles", f"profile of {where}", self.profile, scope
        )
        self.env_id = _by_name(api, "ListEnvironments", f"environment of {where}", ref.environment, scope)
        deployments = (
            call(
                api,
                "ListDeployments",
                f"deployments to {self.application}/{ref.environment}",
                ApplicationId=self.app_id,
                EnvironmentId=self.env_id,
            ).get("Items")
            or []
        )
        mine = [
            d for d in deployments if d.get("ConfigurationName") == self.profile and d.get("State") in LIVE
        ]
        if not mine:
            raise FlagError(
                f"AppConfig: nothing of profile {self.profile!r} is deployed to {ref.environment!r} "
                f"of application {self.application!r}"
            )
        self.deployment = max(mine, key=lambda d: int(d["DeploymentNumber"]))
        self.version = int(self.deployment["ConfigurationVersion"])
        hosted = call(
            api,
            "GetHostedConfigurationVersion",
            f"version {self.version} of {self.application}/{self.profile}",
            ApplicationId=self.app_id,
            ConfigurationProfileId=self.profile_id,
            VersionNumber=self.version,
        )
        self.content_type = str(hosted.get("ContentType") or "application/json")
        try:
            self.document = json.loads(hosted["Content"].read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FlagError(f"AppConfig: version {self.version} is not a JSON flag document: {exc}") from None
        values = self.document.get("values") if isinstance(self.document, dict) else None
        if not isinstance(values, dict) or not isinstance(values.get(ref.flag), dict):
            known = ", ".join(sorted(values)) if isinstance(values, dict) else "none"
            raise FlagError(
                f"AppConfig: {self.application}/{self.profile} has no flag {ref.flag!r} (flags: {known})"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.document["values"][self.ref.flag].get("enabled"))


class AppConfig(FlagProvider):
    name = "appconfig"

    def read(self, ref: FlagRef, settings: Settings) -> FlagReading:
        aws = settings.of(AwsSettings)
        deployed = _guard(lambda: Deployed(client("appconfig", aws.region), ref))
        d = deployed.deployment
        return FlagReading(
            deployed.enabled,
            [
                f"version {deployed.version}",
                f"deployment {d['DeploymentNumber']} {d.get('State', '')}".strip(),
            ],
            d.get("CompletedAt") or d.get("StartedAt"),
            None,  # AppConfig does not say who deployed; CloudTrail does
        )

    def set_enabled(self, ref: FlagRef, enabled: bool, comment: str, settings: Settings) -> None:
        appconfig_settings = settings.of(AppConfigSettings)
        aws = settings.of(AwsSettings)

        def switch() -> None:
            api = client("appconfig", aws.region)
            deployed = Deployed(api, ref)
            deployed.document["values"][ref.flag]["enabled"] = enabled
            scope = {"ApplicationId": deployed.app_id, "ConfigurationProfileId": deployed.profile_id}
            what = f"{deployed.application}/{deployed.profile}"
            versions = (
                call(api, "ListHostedConfigurationVersions", f"versions of {what}", **scope).get("Items")
                or []
            )
            latest = max((int(v["VersionNumber"]) for v in versions), default=deployed.version)
            created = call(
                api,
                "CreateHostedConfigurationVersion",
                f"a new version of {what}",
                **scope,
                Content=json.dumps(deployed.document, separators=(",", ":")).encode(),
                ContentType=deployed.content_type,
                Description=comment[:1024],
                LatestVersionNumber=latest,
            )
            call(
                api,
                "StartDeployment",
                f"version {created['VersionNumber']} of {what} to {ref.environment}",
                ApplicationId=deployed.app_id,
                EnvironmentId=deployed.env_id,
                ConfigurationProfileId=deployed.profile_id,
                ConfigurationVersion=str(created["VersionNumber"]),
                DeploymentStrategyId=appconfig_settings.strategy,
                Description=comment[:1024],
            )

        _guard(switch)


def _by_name(api: Any, action: str, what: str, wanted: str, scope: dict[str, str]) -> str:
    """The id of the item named ``wanted`` in a paged AppConfig list; a refusal listing the names else."""
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = call(api, action, what, **scope, **token)
        for item in page.get("Items") or []:
            if item.get("Name") == wanted:
                return str(item["Id"])
            seen.append(str(item.get("Name")))
        if not page.get("NextToken"):
            break
        token = {"NextToken": page["NextToken"]}
    raise FlagError(f"AppConfig: no {what} named {wanted!r} (there are: {', '.join(seen) or 'none'})")


def _guard(work: Any) -> Any:
    try:
        return work()
    except AwsError as exc:
        raise FlagError(f"AppConfig: {exc}") from None


PROVIDER = AppConfig()
