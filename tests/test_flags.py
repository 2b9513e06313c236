"""Feature-flag steps against LaunchDarkly's documented API (a loopback peer) and a real Unleash server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tasks.flags import steps
from tasks.flags.models import FlagParams
from tasks.flags.providers import FlagError
from tests.peers.launchdarkly import TOKEN, LaunchDarkly, running_launchdarkly
from tests.unleash_server import ADMIN_TOKEN, UnleashServer
from warroom.settings import get_settings


@pytest.fixture
def ld(monkeypatch: pytest.MonkeyPatch) -> Iterator[LaunchDarkly]:
    with running_launchdarkly() as (url, state):
        monkeypatch.setenv("WARROOM_LAUNCHDARKLY_URL", url)
        monkeypatch.setenv("WARROOM_LAUNCHDARKLY_TOKEN", TOKEN)
        get_settings.cache_clear()
        yield state
    get_settings.cache_clear()


def _params(**kw: str) -> FlagParams:
    return FlagParams.model_validate({"provider": "launchdarkly", "flag": "new-checkout", **kw})


def _patches(ld: LaunchDarkly) -> list[dict[str, object]]:
    return [body for method, _path, body in ld.requests if method == "PATCH" and body is not None]


def test_launchdarkly_flag_is_turned_off_with_a_semantic_patch_and_only_there(ld: LaunchDarkly) -> None:
    state = steps.status(_params())
    assert state.enabled and state.strategies == ["on", "off"] and "is on" in state.summary
    dry = steps.disable(_params(), dry_run=True)
    assert dry.dry_run and not dry.applied and "would turn" in dry.summary and _patches(ld) == []
    done = steps.disable(_params())
    assert done.applied and done.was_enabled and done.enabled is False and "on again" in done.way_back
    [patch] = _patches(ld)
    assert patch["environmentKey"] == "production" and patch["instructions"] == [{"kind": "turnFlagOff"}]
    assert ld.flags[("default", "new-checkout")] == {"production": False, "staging": True}
    again = steps.disable(_params())
    assert again.applied and "already off" in again.summary and len(_patches(ld)) == 1  # idempotent


def test_launchdarkly_rate_limit_is_waited_out(ld: LaunchDarkly) -> None:
    ld.rate_limited = 2
    assert steps.disable(_params()).applied
    assert ld.flags[("default", "new-checkout")]["production"] is False


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"flag": "no-such-flag"}, "404 Unknown resource"),
        ({"environment": "prod"}, "no environment 'prod'"),
        ({"project": "other"}, "404 Unknown resource"),
    ],
)
def test_launchdarkly_refusals_name_the_flag_and_change_nothing(
    ld: LaunchDarkly, params: dict[str, str], says: str
) -> None:
    done = steps.disable(_params(**params))
    assert not done.applied and done.error and says in done.error and "nothing changed" in done.summary
    assert _patches(ld) == [] and ld.flags[("default", "new-checkout")]["production"] is True
    with pytest.raises(FlagError, match=says):
        steps.status(_params(**params))


def test_missing_credentials_or_provider_is_a_clear_refusal(
    ld: LaunchDarkly, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_LAUNCHDARKLY_TOKEN", "wrong")
    get_settings.cache_clear()
    assert "401 Invalid access token" in (steps.disable(_params()).error or "")
    monkeypatch.delenv("WARROOM_LAUNCHDARKLY_TOKEN")
    get_settings.cache_clear()
    assert "set WARROOM_LAUNCHDARKLY_TOKEN" in (steps.disable(_params()).error or "")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    for provider in ("ssm", "appconfig"):
        no_region = steps.disable(_params(provider=provider))
        assert "no AWS region" in (no_region.error or "") and not no_region.applied, no_region.error


@pytest.fixture
def unleash_env(unleash: UnleashServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[UnleashServer]:
    monkeypatch.setenv("WARROOM_UNLEASH_URL", unleash.url)
    monkeypatch.setenv("WARROOM_UNLEASH_TOKEN", ADMIN_TOKEN)
    get_settings.cache_clear()
    yield unleash
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def second_feature(unleash: UnleashServer) -> str:
    unleash.feature("new-checkout-2")
    return "new-checkout-2"


def _unleash(flag: str, **kw: str) -> FlagParams:
    return FlagParams.model_validate({"provider": "unleash", "flag": flag, **kw})


def test_unleash_feature_is_turned_off_in_one_environment_and_back_on_exactly_as_it_was(
    unleash_env: UnleashServer,
) -> None:
    from tasks.flags.providers import FlagRef, provider

    unleash_env.feature("new-checkout-1", on_in=("production", "development"))
    before = unleash_env.environments("new-checkout-1")
    state = steps.status(_unleash("new-checkout-1"))
    assert state.enabled and state.strategies == ["flexibleRollout"]
    assert state.last_change is not None and state.changed_by == "admin"
    assert unleash_env.evaluated_on("new-checkout-1")
    dry = steps.disable(_unleash("new-checkout-1"), dry_run=True)
    assert dry.dry_run and unleash_env.environments("new-checkout-1") == before
    done = steps.disable(_unleash("new-checkout-1"))
    assert done.applied and done.enabled is False and "on again" in done.way_back
    after = unleash_env.environments("new-checkout-1")
    assert (
        after["production"] == (False, ["flexibleRollout"]) and after["development"] == before["development"]
    )
    assert not unleash_env.evaluated_on("new-checkout-1")
    assert "already off" in steps.disable(_unleash("new-checkout-1")).summary
    # The way back the result names: on again, strategies untouched.
    provider("unleash").set_enabled(
        FlagRef("new-checkout-1", "production", None), True, "back", get_settings()
    )
    assert unleash_env.environments("new-checkout-1") == before


@pytest.mark.parametrize(
    ("flag", "params", "says"),
    [
        ("nope", {}, 'no feature named "nope"'),
        ("new-checkout-2", {"environment": "prod"}, "has no environment 'prod'"),
        ("new-checkout-2", {"project": "other"}, "404"),
    ],
)
def test_unleash_refusals_carry_unleashs_words_and_change_nothing(
    unleash_env: UnleashServer, flag: str, params: dict[str, str], says: str
) -> None:
    if "new-checkout-2" not in str(unleash_env.__dict__.get("made", "")):
        try:
            unleash_env.feature("new-checkout-2")
        except Exception:
            pass
    done = steps.disable(_unleash(flag, **params))
    assert not done.applied and says in (done.error or "")
    assert unleash_env.environments("new-checkout-2")["production"][0] is True


def test_unleash_with_a_wrong_token_is_refused(
    unleash_env: UnleashServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARROOM_UNLEASH_TOKEN", "*:*.wrong")
    get_settings.cache_clear()
    with pytest.raises(FlagError, match="401"):
        steps.status(_unleash("anything"))


def _flag_document(**values: bool) -> str:
    return json.dumps(
        {
            "version": "1",
            "flags": {name: {"name": name} for name in values},
            "values": {name: {"enabled": on} for name, on in values.items()},
        }
    )


def test_ssm_flag_is_turned_off_as_a_new_parameter_version_and_only_that_flag(aws: str) -> None:
    import boto3

    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name="/shop/production", Value=_flag_document(checkout=True, search=True), Type="String"
    )
    params = FlagParams(provider="ssm", flag="checkout", project="shop")
    state = steps.status(params)
    assert state.enabled and state.last_change is not None and "is on" in state.summary
    assert steps.disable(params, dry_run=True).dry_run
    assert ssm.get_parameter(Name="/shop/production")["Parameter"]["Version"] == 1
    done = steps.disable(params)
    assert done.applied and done.enabled is False
    stored = ssm.get_parameter(Name="/shop/production")["Parameter"]
    assert stored["Version"] == 2
    assert json.loads(stored["Value"])["values"] == {
        "checkout": {"enabled": False},
        "search": {"enabled": True},
    }
    assert "already off" in steps.disable(params).summary
    assert ssm.get_parameter(Name="/shop/production")["Parameter"]["Version"] == 2


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"flag": "nope", "project": "shop2"}, "has no flag 'nope' (flags: checkout)"),
        (
            {"flag": "checkout", "project": "shop2", "environment": "staging"},
            "no SSM parameter /shop2/staging",
        ),
        ({"flag": "checkout", "project": "other"}, "no SSM parameter /other/production in eu-west-1"),
    ],
)
def test_ssm_refusals_name_the_parameter_and_change_nothing(
    aws: str, params: dict[str, str], says: str
) -> None:
    import boto3

    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name="/shop2/production", Value=_flag_document(checkout=True), Type="String", Overwrite=True
    )
    version = ssm.get_parameter(Name="/shop2/production")["Parameter"]["Version"]
    done = steps.disable(FlagParams.model_validate({"provider": "ssm", **params}))
    assert not done.applied and says in (done.error or "")
    assert ssm.get_parameter(Name="/shop2/production")["Parameter"]["Version"] == version


def test_ssm_without_credentials_is_a_refusal_not_a_traceback(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    done = steps.disable(FlagParams(provider="ssm", flag="checkout", project="shop3"))
    assert not done.applied and "no AWS credentials" in (done.error or "")
