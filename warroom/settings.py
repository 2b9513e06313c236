"""Warroom's settings, read from the environment (prefix ``WARROOM_``).

``Settings`` holds what the core needs. Each integration (a notifier, tracker, flag provider, alert format,
step family) declares its own ``IntegrationSettings`` beside its code under its own prefix
(``WARROOM_SLACK_...``) and reads them with ``settings.of(SlackSettings)``; `warroom settings` lists every
one, and the README's table is that list. A bad value is a ``SettingsError``: one line per variable, naming
it and what it expects.
"""

from __future__ import annotations

import getpass
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from warroom.incident import Severity
from warroom.severity import DEFAULT_POLICY, SeverityPolicy, with_overrides


class SettingsError(ValueError):
    """A setting that cannot be used: one line per variable, naming it and what it expects."""

    @classmethod
    def of(cls, exc: ValidationError, model: type[BaseSettings]) -> SettingsError:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"][1:])
            given = error.get("input")
            shown = (
                "" if isinstance(given, dict) or field in _secret_fields(model) else f" (got {given!r:.60})"
            )
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{env_name(model, field)}{rest}: {message}{shown}")
        return cls("\n".join(lines))

    @classmethod
    def unparsable(cls, exc: Exception, model: type[BaseSettings]) -> SettingsError:
        """pydantic-settings' own refusal of a value that is not JSON where JSON is expected."""
        named = re.search(r'field "(\w+)"', str(exc))
        field = named.group(1) if named else ""
        info = model.model_fields.get(field)
        kind = str(info.annotation).replace("pydantic.types.", "") if info else "a value"
        return cls(f"{env_name(model, field)}: expects JSON ({kind}); the value given does not parse")


def _secret_fields(model: type[BaseSettings]) -> set[str]:
    return {n for n, f in model.model_fields.items() if "Secret" in str(f.annotation)}


def env_name(model: type[BaseSettings], field: str) -> str:
    """The environment variable a field is read from (its first alias, else prefix + name)."""
    info = model.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def integration_config(prefix: str) -> SettingsConfigDict:
    """An integration's ``model_config``: its fields read from ``WARROOM_<PREFIX>_<FIELD>``."""
    return SettingsConfigDict(
        env_prefix=f"WARROOM_{prefix.upper()}_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )


class IntegrationSettings(BaseSettings):
    """One integration's settings, beside its code (``model_config = integration_config("slack")``); the
    docstring's first line heads its part of the settings table."""

    model_config = integration_config("unnamed")


Integration = TypeVar("Integration", bound=IntegrationSettings)


class Settings(BaseSettings):
    """The core: state, ledger, runbooks, approvals, on call, `warroom up`, the receiver"""

    model_config = SettingsConfigDict(
        env_prefix="WARROOM_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    home: Path = Field(
        default=Path.home() / ".warroom",
        description="State directory: the SQLite ledger, keys, tokens (0700)",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger; PostgreSQL: `postgresql+psycopg://user:pw@host/db`",
        json_schema_extra={"shown": "`sqlite:///$WARROOM_HOME/warroom.db`"},
    )
    runbooks_dir: Path = Field(default=Path("runbooks"), description="Where the team's runbooks live")
    step_modules: list[str] = Field(
        default_factory=list, description="The team's own Python modules that register extra steps"
    )
    severity: dict[Severity, SeverityPolicy] = Field(
        default_factory=dict,
        description="Per-level overrides of the severity policy, any of its fields, e.g. "
        '`{"P1": {"ack_within": "5m"}}` (the rest stay the seed table\'s)',
        json_schema_extra={"shown": "the seed table"},
    )
    default_severity: Severity = Field(
        default=Severity.P3, description="Level used when no triage rule or alert label decides"
    )
    user: str = Field(
        default_factory=getpass.getuser,
        description="The name a run started without a signing key claims (shown as not proven)",
        json_schema_extra={"shown": "your login name"},
    )
    key_file: Path = Field(
        default=Path.home() / ".config" / "warroom" / "key.pem",
        description="Your own signing key, made on your machine by `warroom approvers enroll`; "
        "`approve`, `run` and `ack` sign as the person it names",
    )
    start_proof_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a run tagged as vouched for waits for its start proof before its starter "
        "counts as unknown",
    )
    ack_form_seconds: float = Field(
        default=600.0, gt=0, description="How long the Prefect UI's acknowledge form waits for a code"
    )
    approver_key: SecretStr | None = Field(
        default=None,
        description="Fernet key sealing approvers' one-time-code secrets in the ledger; set it when several "
        "machines share one PostgreSQL ledger",
        json_schema_extra={"shown": "made in `$WARROOM_HOME/approvers.key`"},
    )
    approver_groups: dict[str, list[str]] = Field(
        default_factory=dict, description='Groups runbooks name as approvers: `{"sre": ["alice", "bob"]}`'
    )
    oncall: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Static on-call for a set-up without schedules: `{"primary": ["alice"], "comms": '
        '["carol"]}`; a schedule answers for the names it has',
    )
    oncall_dir: Path = Field(default=Path("oncall"), description="The teams' on-call schedules (YAML)")
    default_team: str | None = Field(
        default=None,
        description="Whose schedule answers for a runbook without `team:`",
        json_schema_extra={"shown": "the only schedule"},
    )
    approval_poll_seconds: float = Field(
        default=0.25,
        ge=0.1,
        le=10,
        description="How often the paused gates of a process look for their answers (one Prefect call for "
        "all of them)",
    )
    run_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a running respond flow tells the ledger it is alive"
    )
    run_stale_seconds: float = Field(
        default=30.0, gt=0, description="Silence after which `warroom up` takes a run's process for gone"
    )
    run_start_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a run's new process may take from RUNNING to its first heartbeat before "
        "`warroom up` takes it for gone (a loaded machine takes tens of seconds to start one); at least the "
        "stale window",
    )
    keeper_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often `warroom up` checks live runs and their gates against Prefect",
    )
    prefect_host: str = Field(default="127.0.0.1", description="Where `warroom up` starts its Prefect server")
    prefect_port: int = Field(default=4200, description="Port of the Prefect server `warroom up` starts")
    prefect_auth: SecretStr | None = Field(
        default=None,
        description="`user:password` basic auth for that Prefect server",
        json_schema_extra={"shown": "made in `$WARROOM_HOME/prefect-auth`"},
    )
    prefect_database: Literal["auto", "postgres", "sqlite"] = Field(
        default="auto",
        description="The database of that Prefect server: `auto` is an embedded PostgreSQL (Unix socket "
        "only) when PostgreSQL is installed, else SQLite, which refuses some UI answers on a loaded machine "
        "(`bench/ui_resumes.py --load`). A database named by Prefect's own "
        "`PREFECT_SERVER_DATABASE_CONNECTION_URL` (or its alias `PREFECT_API_DATABASE_CONNECTION_URL`) is "
        "used instead, as it is",
    )
    runner_poll_seconds: float = Field(
        default=0.5,
        ge=0.1,
        le=60,
        description="How often the warm lanes (`warroom up`, `warroom worker`) look for new runs",
    )
    lane_working_runs: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="Most runs the normal lane works on at once; a run waiting at a gate does not count, "
        "and the urgent lane (P1/P2) is not capped. More leave a P1's requests queued behind P4s' at the "
        "Prefect server",
    )
    receiver_host: str = Field(
        default="127.0.0.1", description="Where `warroom up` serves the alert receiver"
    )
    receiver_port: int = Field(default=9095, description="Port of the alert receiver")
    intake_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Bearer token per alert format (or `*`): `{"alertmanager": "...", "*": "..."}`',
        json_schema_extra={"shown": "`$WARROOM_HOME/intake-token`"},
    )
    intake_hmac_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HMAC-SHA256 secret per format, checked against `X-Warroom-Signature: sha256=<hex>`",
    )
    intake_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies get 413")
    intake_launch_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often a receiver's launch loop looks for launches another queued"
    )
    launch_parallel: int = Field(
        default=4,
        ge=1,
        description="Launches in flight at once: in a storm, while runs already load the Prefect server, "
        "four at a time have every run created in half the time one at a time takes (`bench/scale.py "
        "--launch-parallel`)",
    )
    launch_process: bool = Field(
        default=True,
        description="Run the receiver's launch loop in a process of its own: at 200 alerts/s, a storm's "
        "launches in the receiver's process held each alert's answer ~300 ms (`bench/intake.py`)",
    )
    lease_seconds: float = Field(
        default=15.0,
        ge=1,
        description="How long after a receiver dies another takes over its launch loop and keeper",
    )
    page_channels: list[str] = Field(
        default_factory=list,
        description='How pages reach people: notifier names, `["slack", "webhook", "pagerduty", '
        '"opsgenie"]`; none: the timeline and `warroom oncall pages` only',
    )
    tracker: str = Field(
        default="local",
        description="Where incidents and action items are tracked: local, github, jira, generic",
    )
    tracker_users: dict[str, str] = Field(
        default_factory=dict, description="Warroom name -> tracker account (GitHub login, Jira account id)"
    )

    _integrations: dict[type[IntegrationSettings], IntegrationSettings] = PrivateAttr(default_factory=dict)

    def of(self, model: type[Integration]) -> Integration:
        """``model``'s settings: as given to this Settings (``given``), else read from the environment."""
        found = self._integrations.get(model)
        if found is None:
            try:
                found = model()
            except ValidationError as exc:
                raise SettingsError.of(exc, model) from None
            except PydanticSettingsError as exc:
                raise SettingsError.unparsable(exc, model) from None
            self._integrations[model] = found
        return found  # type: ignore[return-value]

    def given(self, *integrations: IntegrationSettings) -> Settings:
        """These settings, with ``integrations`` given rather than read from the environment."""
        for one in integrations:
            self._integrations[type(one)] = one
        return self

    @field_validator("severity", mode="before")
    @classmethod
    def _partial_levels(cls, value: object) -> object:
        return with_overrides(value)

    def policy(self, level: Severity) -> SeverityPolicy:
        """What ``level`` obliges here: the seed table with this set-up's overrides (``WARROOM_SEVERITY``)."""
        return self.severity.get(level) or DEFAULT_POLICY[level]

    def ledger_url(self) -> str:
        """The ledger's database URL, with the embedded SQLite default."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'warroom.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; a bad value is a ``SettingsError`` naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError.of(exc, Settings) from None
    except PydanticSettingsError as exc:
        raise SettingsError.unparsable(exc, Settings) from None
