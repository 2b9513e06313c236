"""Settings as an operator meets them: the README's tables are the models' own, every variable a table names
is the one read, old variable names still work, and a bad value is one line naming it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.settings import settings_models
from warroom.settings import IntegrationSettings, Settings, env_name
from warroom.settings_table import markdown

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- generated: warroom settings --markdown -->\n", "<!-- end of generated settings -->"


def test_the_readme_settings_tables_are_generated_from_the_models_and_do_not_drift() -> None:
    readme = (REPO / "README.md").read_text()
    shown = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert shown == markdown(settings_models()), (
        "README.md's settings tables drifted from the models: paste `warroom settings --markdown` between "
        "the generated markers"
    )


def test_every_integration_declares_its_settings_beside_its_code_under_its_own_prefix() -> None:
    models = settings_models()[1:]
    assert len(models) >= 15
    core = set(Settings.model_fields)
    for model in models:
        assert issubclass(model, IntegrationSettings) and model.__doc__, model
        prefix = model.model_config.get("env_prefix", "")
        assert prefix.startswith("WARROOM_") and prefix != "WARROOM_UNNAMED_", model
        assert not core & {f"{prefix.removeprefix('WARROOM_').lower()}{f}" for f in model.model_fields}, model


@pytest.mark.parametrize("model", settings_models(), ids=lambda m: m.__name__)
def test_each_variable_a_table_names_is_the_one_the_model_reads(
    model: type[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [n for n, f in model.model_fields.items() if f.annotation in (str, str | None)]
    for name in texts:
        monkeypatch.setenv(env_name(model, name), f"value-of-{name}")
    read = model()
    assert {n: getattr(read, n) for n in texts} == {n: f"value-of-{n}" for n in texts}


def test_the_old_variable_names_still_reach_their_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.kubernetes.settings import KubeSettings
    from tasks.slack_client import SlackSettings
    from tasks.ssh.settings import SshSettings
    from tasks.trackers.generic import GenericTrackerSettings

    monkeypatch.setenv("WARROOM_SLACK_TOKEN", "xoxb-1")
    monkeypatch.setenv("WARROOM_SSH_CONCURRENCY", "7")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube/a:/etc/kube/b")
    monkeypatch.setenv("WARROOM_GENERIC_TRACKER", '{"url": "http://127.0.0.1:9/api", "key_field": "uid"}')
    settings = Settings()
    assert settings.of(SlackSettings).token.get_secret_value() == "xoxb-1"  # type: ignore[union-attr]
    assert settings.of(SshSettings).concurrency == 7
    assert settings.of(KubeSettings).kubeconfig == "/etc/kube/a:/etc/kube/b"
    tracker = settings.of(GenericTrackerSettings).tracker
    assert tracker is not None and (tracker.url, tracker.key_field) == ("http://127.0.0.1:9/api", "uid")
    with pytest.raises(ValueError, match="slack_token"):
        Settings(slack_token="xoxb-1")  # type: ignore[call-arg]  # the flat name is refused, not ignored


def _warroom(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (
            ["incidents", "list"],
            {"WARROOM_APPROVAL_POLL_SECONDS": "99"},
            "error: WARROOM_APPROVAL_POLL_SECONDS: Input should be less than or equal to 10 (got '99')",
        ),
        (
            ["settings"],
            {"WARROOM_SSH_CONCURRENCY": "lots"},
            "error: WARROOM_SSH_CONCURRENCY: Input should be a valid integer, unable to parse string as an "
            "integer (got 'lots')",
        ),
        (
            ["incidents", "list"],
            {"WARROOM_INTAKE_TOKENS": '{"*": "s3cret-token'},
            "error: WARROOM_INTAKE_TOKENS: expects JSON (dict[str, SecretStr]); the value given does not "
            "parse",
        ),
    ],
    ids=["core-range", "integration-type", "secret-json"],
)
def test_a_bad_setting_is_one_line_naming_its_variable_and_what_it_expects(
    args: list[str], env: dict[str, str], said: str, tmp_path: Path
) -> None:
    done = _warroom(*args, WARROOM_HOME=str(tmp_path / "home"), **env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [said]
    assert "Traceback" not in done.stderr + done.stdout and "s3cret" not in done.stderr + done.stdout
