"""AWS AppConfig feature flags against a loopback AppConfig control API (tests/peers/appconfig.py, since
moto's AppConfig has no environments or deployments): the deployed flag document read per environment, a
flag switched off as a new hosted version deployed to that environment only, refusals in AWS's words."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks.flags import steps
from tasks.flags.models import FlagParams
from tests.peers.appconfig import AppConfigPeer, running_appconfig

DOCUMENT = {
    "flags": {"checkout": {"name": "checkout"}, "search": {"name": "search"}},
    "values": {"checkout": {"enabled": True}, "search": {"enabled": True}},
    "version": "1",
}


@pytest.fixture
def appconfig(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppConfigPeer]:
    with running_appconfig() as (peer, url):
        monkeypatch.setenv("AWS_ENDPOINT_URL_APPCONFIG", url)  # the SDK's per-service endpoint setting
        peer.seed("shop", "flags", ["production", "staging"], DOCUMENT)
        yield peer


def _params(flag: str = "checkout", **kw: str) -> FlagParams:
    return FlagParams(provider="appconfig", flag=flag, project=kw.pop("project", "shop/flags"), **kw)


def test_an_appconfig_flag_is_turned_off_by_a_new_version_deployed_to_that_environment_only(
    appconfig: AppConfigPeer,
) -> None:
    state = steps.status(_params())
    assert state.enabled and state.strategies == ["version 1", "deployment 1 COMPLETE"], state
    plan = steps.disable(_params(), dry_run=True)
    assert plan.dry_run and not plan.applied and appconfig.versions("shop", "flags") == [1]
    done = steps.disable(_params())
    assert done.applied and done.enabled is False, done.summary
    assert appconfig.versions("shop", "flags") == [1, 2]
    assert appconfig.document("shop", "flags", "production")["values"] == {
        "checkout": {"enabled": False},
        "search": {"enabled": True},
    }
    assert appconfig.document("shop", "flags", "staging") == DOCUMENT  # only production was touched
    after = steps.status(_params())
    assert not after.enabled and after.strategies[0] == "version 2"
    again = steps.disable(_params())
    assert "already off" in again.summary and appconfig.versions("shop", "flags") == [1, 2]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"flag": "nope"}, "AppConfig: shop/flags has no flag 'nope' (flags: checkout, search)"),
        (
            {"environment": "qa"},
            "AppConfig: no environment of application shop named 'qa' (there are: production, staging)",
        ),
        ({"project": "other"}, "AppConfig: no application named 'other' (there are: shop)"),
        ({"project": "shop/settings"}, "no profile of application shop named 'settings' (there are: flags)"),
    ],
)
def test_appconfig_refusals_say_what_is_missing_and_change_nothing(
    appconfig: AppConfigPeer, params: dict[str, str], says: str
) -> None:
    done = steps.disable(_params(**params))
    assert not done.applied and says in (done.error or ""), done.error
    assert appconfig.versions("shop", "flags") == [1]


def test_a_deployment_already_in_progress_is_a_refusal_naming_the_version_left_undeployed(
    appconfig: AppConfigPeer,
) -> None:
    appconfig.deployments_finish = False
    first = steps.disable(_params("checkout"))
    assert first.applied  # deployment 2 is DEPLOYING: what AppConfig serves from now on
    second = steps.disable(_params("search"))
    assert not second.applied
    assert "StartDeployment on version 3 of shop/flags to production" in (second.error or "")
    assert "ConflictException: Deployment number 2 is already in progress" in (second.error or "")
    assert appconfig.document("shop", "flags", "production")["values"]["search"] == {"enabled": True}
