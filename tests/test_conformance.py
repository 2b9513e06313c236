"""Conformance: every registered step and plug-in keeps its extension point's promises (docs/extending.md).

Parametrized over what the registries find, never over a list kept here: a new step, notifier, tracker,
alert format or flag provider is checked the moment its module exists.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import Task
from pydantic import BaseModel

from cli.settings import settings_models
from flows.run_steps import step_task
from tasks.chat import PROVIDERS as CHAT_PROVIDERS
from tasks.chat.base import ChatError, ChatProvider
from tasks.flags.providers import PROVIDERS
from tasks.flags.providers.base import FlagError, FlagProvider, FlagRef
from tasks.notifiers import NOTIFIERS
from tasks.notifiers.base import Notice, Notifier, NotifyError
from tasks.stakeholders import CHANNELS, StakeholderChannel
from tasks.statuspage import PROVIDERS as STATUS_PROVIDERS
from tasks.statuspage import StatusPageError, StatusPageProvider
from tasks.trackers import TRACKERS
from tasks.trackers.base import TaskSpec, Tracker, TrackerError
from warroom.intake.alert import PayloadError
from warroom.intake.auth import Unauthorized
from warroom.intake.formats import FORMATS
from warroom.intake.formats.base import AlertFormat
from warroom.settings import IntegrationSettings, Settings
from warroom.steps import ChangeResult, StepKind, StepResult, all_steps

STEPS = all_steps()
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PLUGINS: list[tuple[str, str, Any]] = [
    *(("notifier", n, m) for n, m in NOTIFIERS.items()),
    *(("tracker", n, m) for n, m in TRACKERS.items()),
    *(("format", n, m) for n, m in FORMATS.items()),
    *(("flag provider", n, m) for n, m in PROVIDERS.items()),
    *(("chat provider", n, m) for n, m in CHAT_PROVIDERS.items()),
    *(("status page", n, m) for n, m in STATUS_PROVIDERS.items()),
    *(("stakeholder channel", n, m) for n, m in CHANNELS.items()),
]
BASES = {
    "notifier": Notifier,
    "tracker": Tracker,
    "format": AlertFormat,
    "flag provider": FlagProvider,
    "chat provider": ChatProvider,
    "status page": StatusPageProvider,
    "stakeholder channel": StakeholderChannel,
}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_is_named_once_typed_both_ways_and_says_what_it_does(name: str) -> None:
    spec = STEPS[name]
    family, _, verb = name.partition(".")
    assert NAME.match(family) and NAME.match(verb), f"{name}: steps are named family.verb, lower case"
    assert spec.implemented and spec.fn is not None
    made = step_task(spec)
    assert isinstance(made, Task) and made.name == name, f"{name}: its Prefect task is named {made.name!r}"
    assert issubclass(spec.params, BaseModel) and spec.params.model_config.get("extra") == "forbid", (
        f"{name}: a params model refuses unknown fields, so a runbook's typo is a validation error"
    )
    spec.params.model_json_schema()  # the CLI and the runbook validator render it
    assert issubclass(spec.result, StepResult)
    if spec.kind is StepKind.MITIGATION:
        assert issubclass(spec.result, ChangeResult), (
            f"{name}: a mitigation says what it changed and how back"
        )
    if spec.dry_run is not None:
        assert spec.kind is StepKind.MITIGATION, f"{name}: only a mitigation has a dry run"
        flag = inspect.signature(spec.fn).parameters["dry_run"]
        assert flag.default is False, f"{name}: run with its params alone, a mitigation makes the change"
    assert spec.summary and len(spec.summary) > 20, f"{name}: the docstring says what it does to production"
    module = inspect.getmodule(spec.fn)
    assert module is not None and module.__name__.startswith((f"tasks.{family}", "tests.")), (
        f"{name} lives outside tasks/{family}"
    )


@pytest.mark.parametrize(("kind", "name", "member"), PLUGINS, ids=[f"{k}:{n}" for k, n, _ in PLUGINS])
def test_every_plugin_is_one_module_named_for_it_with_its_settings_beside_it(
    kind: str, name: str, member: Any
) -> None:
    assert isinstance(member, BASES[kind]) and NAME.match(name), f"{kind} {name!r}"
    module = sys.modules[type(member).__module__]
    assert module.__doc__, f"{module.__name__} says what it is"
    declared = _settings_declared_in(module)
    assert len(declared) <= 1, f"{module.__name__} declares more than one settings model"
    if declared:
        assert declared[0] in settings_models(), f"{declared[0].__name__} is not in the settings table"
    assert Path(module.__file__ or "").stem != "base"


def _settings_declared_in(module: Any) -> list[type[IntegrationSettings]]:
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, IntegrationSettings) and v.__module__ == module.__name__
    ]


def _without(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> Settings:
    """Settings with nothing of this plug-in's own set (its models', and ``WARROOM_<NAME>_`` for those it
    shares with a sibling, as the Slack notifier and chat provider share Slack's), whatever the environment
    holds."""
    prefixes = [str(m.model_config.get("env_prefix", "")) for m in _settings_declared_in(module)]
    prefixes.append(f"WARROOM_{name.upper()}_")
    for variable in [k for k in list(os.environ) if k.upper().startswith(tuple(prefixes))]:
        monkeypatch.delenv(variable)
    return Settings()


NOTICE = Notice("INC-1", "checkout down", "P1", "alice", "sre/primary", 0, 900, None, None)


@pytest.mark.parametrize("name", sorted(NOTIFIERS))
def test_a_notifier_without_its_settings_refuses_in_its_own_words_naming_what_to_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = NOTIFIERS[name]
    settings = _without(monkeypatch, sys.modules[type(notifier).__module__], name)
    with pytest.raises(NotifyError, match=rf"^{name}: .*WARROOM_[A-Z_]+"):
        notifier.send(NOTICE, settings)


@pytest.mark.parametrize("name", sorted(n for n in TRACKERS if n != "local"))
def test_a_tracker_without_its_settings_refuses_in_its_own_words_naming_what_to_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = TRACKERS[name]
    settings = _without(monkeypatch, sys.modules[type(tracker).__module__], name)
    with pytest.raises(TrackerError, match=rf"^{name}: .*WARROOM_[A-Z_]+"):
        tracker.create(TaskSpec("incident", "INC-1 checkout down", "body"), settings)


@pytest.mark.parametrize("name", sorted(CHAT_PROVIDERS))
def test_a_chat_provider_without_its_settings_refuses_at_start_up_naming_what_to_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = CHAT_PROVIDERS[name]
    settings = _without(monkeypatch, sys.modules[type(provider).__module__], name)
    with pytest.raises(ChatError, match=rf"^{name}.*WARROOM_[A-Z_]+"):
        provider.check(settings)


@pytest.mark.parametrize("name", sorted(STATUS_PROVIDERS))
def test_a_status_page_provider_without_its_settings_refuses_naming_what_to_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = STATUS_PROVIDERS[name]
    settings = _without(monkeypatch, sys.modules[type(provider).__module__], name)
    with pytest.raises(StatusPageError, match=rf"^{name}.*WARROOM_[A-Z_]+"):
        provider.check(settings)


# An address of each channel's own; a channel that needs no settings of its own (apprise: the URL is all)
# is held only to taking its addresses and no others'.
ADDRESSES = {
    "email": "cto@example.com",
    "slack": "#leadership",
    "apprise": "ntfys://ntfy.example.com/warroom",
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_a_stakeholder_channel_takes_its_own_addresses_only_and_without_settings_names_what_to_set(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = CHANNELS[name]
    assert name in ADDRESSES, f"give the {name} channel an address here"
    assert [n for n, a in ADDRESSES.items() if channel.accepts(a)] == [name]
    if _settings_declared_in(sys.modules[type(channel).__module__]) or name == "slack":
        settings = _without(monkeypatch, sys.modules[type(channel).__module__], name)
        [delivery] = channel.send([ADDRESSES[name]], "subject", "body", settings)
        assert not delivery.ok and re.search(r"WARROOM_[A-Z_]+", delivery.error or ""), delivery


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("body", [{}, [], "not an alert", {"alerts": "many"}, {"alerts": [None]}])
def test_a_format_refuses_a_malformed_body_as_a_payload_error_never_a_crash(name: str, body: Any) -> None:
    fmt = FORMATS[name]
    assert fmt.title
    try:
        alerts = fmt.parse(body, Settings())
    except PayloadError as exc:
        assert str(exc), f"{name}: a refusal says what is wrong"
    else:
        assert alerts == [], f"{name} made alerts of {body!r}"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_format_refuses_a_sender_without_credentials(name: str) -> None:
    # SNS signs inside the body: a body that is not an SNS message is refused before any signature.
    with pytest.raises((Unauthorized, PayloadError)):
        FORMATS[name].authenticate({}, b"{}", Settings(intake_tokens={"*": "t0ken"}))  # type: ignore[dict-item]


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_flag_provider_that_cannot_reach_its_service_refuses_in_its_own_error(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    provider = PROVIDERS[name]
    settings = _without(monkeypatch, sys.modules[type(provider).__module__], name)
    # Nothing to reach: no URL or token, no AWS region or credentials, no kubeconfig.
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FlagError):
        provider.read(FlagRef("checkout-v2", "production", None), settings)


def test_every_flag_provider_is_described_where_runbook_writers_read() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "runbooks.md").read_text()
    missing = [name for name in PROVIDERS if f"`{name}`" not in text]
    assert not missing, f"docs/runbooks.md does not describe the flag provider(s) {missing}"


HTTPX_CALLS = {"Client", "AsyncClient", "get", "post", "put", "patch", "delete", "request", "stream"}


def test_every_http_client_below_the_cli_shares_the_tls_context_of_its_trust_setting() -> None:
    """httpx loads the whole CA bundle for each client made without ``verify=`` a context (~30 ms of CPU):
    steps, notifiers, trackers, flows and the services make clients per call, so each takes
    ``verify=tls_context(...)`` (docs/extending.md). The CLI's one request per command may not."""
    import ast

    from tests.conftest import REPO

    missing = []
    for floor in ("tasks", "flows", "warroom", "deployments"):
        for path in sorted((REPO / floor).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                owner = node.func.value
                if not (
                    isinstance(owner, ast.Name) and owner.id == "httpx" and node.func.attr in HTTPX_CALLS
                ):
                    continue
                verify = next((k.value for k in node.keywords if k.arg == "verify"), None)
                uses_context = (
                    isinstance(verify, ast.Call)
                    and isinstance(verify.func, ast.Name)
                    and verify.func.id == "tls_context"
                )
                if not uses_context:
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno}: httpx.{node.func.attr}(...)")
    assert not missing, "HTTP clients without verify=tls_context(...):\n" + "\n".join(missing)
