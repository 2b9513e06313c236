"""The alert-format registry: every module in warroom/intake/formats is a format, and each format's
credentials are what its own authentication accepts (the pair `warroom alerts replay` relies on)."""

from __future__ import annotations

import json
import pkgutil

import pytest
from pydantic import SecretStr

from warroom.intake import formats
from warroom.intake.auth import Unauthorized
from warroom.intake.formats import FORMAT_NAMES, FORMATS
from warroom.intake.formats.pagerduty import PagerDutyWebhookSettings
from warroom.settings import Settings

BODY = json.dumps({"title": "disk full"}).encode()


def test_every_format_module_is_registered_under_its_own_name() -> None:
    modules = {m.name for m in pkgutil.iter_modules(formats.__path__)} - {"base"}
    assert set(FORMAT_NAMES) == {FORMATS[n].name for n in FORMAT_NAMES}
    assert {type(FORMATS[n]).__module__.rsplit(".", 1)[1] for n in FORMAT_NAMES} == modules
    assert {"alertmanager", "grafana", "sns", "pagerduty", "generic"} <= set(FORMAT_NAMES)
    assert all(FORMATS[n].title for n in FORMAT_NAMES)


@pytest.mark.parametrize(
    "settings",
    [
        Settings(intake_tokens={"*": SecretStr("tok")}),
        Settings(intake_hmac_secrets={"*": SecretStr("hm")}),
        Settings(intake_tokens={"*": SecretStr("tok")}).given(
            PagerDutyWebhookSettings(secrets=[SecretStr("pd")])
        ),
    ],
    ids=["token", "hmac", "pagerduty-signature"],
)
@pytest.mark.parametrize("name", [n for n in FORMAT_NAMES if n != "sns"])
def test_a_format_accepts_its_own_credentials_and_refuses_none(name: str, settings: Settings) -> None:
    fmt = FORMATS[name]
    headers = {k.lower(): v for k, v in fmt.credentials(BODY, settings).items()}
    fmt.authenticate(headers, BODY, settings)
    with pytest.raises(Unauthorized):
        fmt.authenticate({}, BODY, settings)
    if "authorization" not in headers:  # a signature: it holds for this body only
        with pytest.raises(Unauthorized):
            fmt.authenticate(headers, BODY + b" ", settings)
    else:
        with pytest.raises(Unauthorized):
            fmt.authenticate({"authorization": headers["authorization"] + "x"}, BODY, settings)


def test_pagerduty_with_a_secret_takes_only_pagerdutys_signature() -> None:
    settings = Settings(intake_tokens={"*": SecretStr("tok")}).given(
        PagerDutyWebhookSettings(secrets=[SecretStr("pd")])
    )
    with pytest.raises(Unauthorized, match="X-PagerDuty-Signature"):
        FORMATS["pagerduty"].authenticate({"authorization": "Bearer tok"}, BODY, settings)
