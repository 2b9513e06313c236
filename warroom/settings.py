"""Warroom's settings: the one place that reads the environment (prefix ``WARROOM_``)."""

from __future__ import annotations

import getpass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.incident import Severity
from warroom.severity import DEFAULT_POLICY, SeverityPolicy


class GenericTracker(BaseModel):
    """A tracker with a JSON REST API (GitScrum, an in-house one) described instead of coded: where to POST
    a task (``{parent}`` for a subtask), where to read one (``{key}``), and which fields of the answer are the
    key, the URL and the status (dotted paths)."""

    url: str
    create: str = "/tasks"
    subtask: str | None = Field(default=None, description="Default: create, with parent in the body")
    status: str = "/tasks/{key}"
    token: SecretStr | None = None
    key_field: str = "id"
    url_field: str | None = "url"
    done_field: str = "status"
    done_values: list[str] = Field(default_factory=lambda: ["done", "closed"])


class Settings(BaseSettings):
    """Everything Warroom can be told from outside; nested values use ``__`` or JSON."""

    model_config = SettingsConfigDict(
        env_prefix="WARROOM_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    home: Path = Field(default=Path.home() / ".warroom", description="State directory (SQLite ledger, keys)")
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the ledger; default sqlite:///$WARROOM_HOME/warroom.db"
    )
    runbooks_dir: Path = Field(default=Path("runbooks"), description="Where the team's runbooks live")
    step_modules: list[str] = Field(
        default_factory=list, description="Extra Python modules that register the team's own steps"
    )
    severity: dict[Severity, SeverityPolicy] = Field(
        default_factory=dict, description="Per-level overrides of the severity policy table"
    )
    default_severity: Severity = Field(
        default=Severity.P3, description="Level used when no triage rule or alert label decides"
    )
    user: str = Field(
        default_factory=getpass.getuser,
        description="The name a run started without a signing key claims (shown as not proven)",
    )
    key_file: Path = Field(
        default=Path.home() / ".config" / "warroom" / "key.pem",
        description="Your own signing key, made on this machine by `warroom approvers enroll`; "
        "`warroom approve`, `run` and `ack` sign as the person it names",
    )
    start_proof_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a run tagged as vouched for waits for its start proof before its starter "
        "counts as unknown",
    )
    ack_form_seconds: float = Field(
        default=600.0, gt=0, description="How long the acknowledge form in the Prefect UI waits for a code"
    )
    approver_key: SecretStr | None = Field(
        default=None,
        description="Key that seals approvers' one-time-code secrets in the ledger (Fernet, urlsafe "
        "base64); default: $WARROOM_HOME/approvers.key, made once, mode 0600. Set it when processes on "
        "several machines share one PostgreSQL ledger.",
    )
    approver_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Approval groups: name -> people (runbooks say `group: sre`)"
    )
    oncall: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Static on-call for a set-up without schedules: name -> people, current first "
        "(`primary`, `secondary`, `comms`); a schedule in oncall_dir answers for the names it has",
    )
    oncall_dir: Path = Field(default=Path("oncall"), description="Where the teams' on-call schedules live")
    default_team: str | None = Field(
        default=None,
        description="Whose schedule answers for a runbook that names no team (default: the only one)",
    )
    approval_poll_seconds: float = Field(
        default=0.5, ge=0.1, le=10, description="How often a paused gate looks for an answer"
    )
    run_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a running respond flow tells the ledger it is alive"
    )
    run_stale_seconds: float = Field(
        default=30.0, gt=0, description="Silence after which the keeper takes a run's process for gone"
    )
    keeper_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often `warroom up` checks the live runs and their gates"
    )
    prefect_host: str = Field(default="127.0.0.1", description="Where `warroom up` starts its Prefect server")
    prefect_port: int = Field(default=4200, description="Port of the Prefect server `warroom up` starts")
    prefect_auth: SecretStr | None = Field(
        default=None, description="user:password basic auth for the Prefect API/UI that `warroom up` starts"
    )
    prefect_database: Literal["auto", "postgres", "sqlite"] = Field(
        default="auto",
        description="The database of the Prefect server `warroom up` starts: auto is an embedded PostgreSQL "
        "when PostgreSQL is installed (SQLite refuses UI answers under load), else SQLite",
    )
    runner_poll_seconds: int = Field(
        default=1, ge=1, description="How often served deployments look for runs"
    )

    receiver_host: str = Field(
        default="127.0.0.1", description="Where `warroom up` serves the alert receiver"
    )
    receiver_port: int = Field(default=9095)
    intake_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Bearer token per format (or '*'); default: $WARROOM_HOME/intake-token",
    )
    intake_hmac_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="HMAC-SHA256 secret per format: X-Warroom-Signature: sha256=<hex>"
    )
    pagerduty_webhook_secrets: list[SecretStr] = Field(
        default_factory=list, description="PagerDuty v3 webhook secrets (X-PagerDuty-Signature)"
    )
    intake_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    sns_trusted_url_pattern: str = Field(
        default=r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/",
        description="Only URLs matching this are fetched (signing certificates, SubscribeURL)",
    )
    sns_regions: list[str] = Field(default_factory=list, description="SNS regions accepted; empty: any")
    intake_launch_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the launch loop looks for launches another receiver queued"
    )
    launch_parallel: int = Field(
        default=1,
        ge=1,
        description="Launches in flight at once. One at a time is fastest against a Prefect server on SQLite "
        "(concurrent writes there wait out 'database is locked' retries of 2 s and more) and as fast on "
        "PostgreSQL over loopback; raise it only for a PostgreSQL server far away",
    )
    lease_seconds: float = Field(
        default=15.0,
        ge=1,
        description="How long the launch loop's and the keeper's lease outlives its holder: one receiver of "
        "a cluster does each job, and another takes over this long after it dies",
    )

    ssh_inventory: Path | None = Field(default=None, description="Ansible YAML inventory of SSH hosts")
    ssh_config: Path | None = Field(
        default=Path.home() / ".ssh" / "config", description="ssh_config to honour"
    )
    ssh_known_hosts: Path = Field(
        default=Path.home() / ".ssh" / "known_hosts", description="Strict host keys"
    )
    ssh_user: str | None = Field(default=None, description="Default login when the inventory names none")
    ssh_key_file: Path | None = Field(default=None, description="Private key file")
    ssh_key_block: str | None = Field(
        default=None, description="Prefect Secret block holding the private key"
    )
    ssh_key_passphrase: SecretStr | None = None
    ssh_password: SecretStr | None = None
    ssh_concurrency: int = Field(default=32, ge=1, le=512, description="Hosts worked on at once")
    ssh_connect_timeout: float = Field(default=10.0, gt=0)
    ssh_command_timeout: float = Field(default=60.0, gt=0)
    ssh_output_limit: int = Field(
        default=64_000, ge=1_000, description="Bytes of stdout/stderr kept per host"
    )
    ssh_commands_file: Path | None = Field(
        default=None, description="YAML command catalogue over the built-in"
    )
    ssh_commands: dict[str, Any] = Field(default_factory=dict, description="Catalogue entries over the file")

    kubeconfig: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WARROOM_KUBECONFIG", "KUBECONFIG"),
        description="Kubeconfig file(s), ':'-separated; default ~/.kube/config, then in-cluster",
    )
    kube_context: str | None = Field(default=None, description="Kubeconfig context; default: current")
    kube_timeout: float = Field(default=15.0, gt=0, description="Seconds for any one Kubernetes API call")
    kube_serviceaccount_dir: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount"),
        description="In-cluster token and CA (used when no kubeconfig exists)",
    )
    unleash_url: str | None = Field(default=None, description="Unleash server base URL (admin API)")
    unleash_token: SecretStr | None = Field(default=None, description="Unleash admin API token")
    launchdarkly_url: str = Field(
        default="https://app.launchdarkly.com", description="LaunchDarkly API base URL"
    )
    launchdarkly_token: SecretStr | None = Field(
        default=None, description="LaunchDarkly API access token (writer role to turn flags off)"
    )
    aws_region: str | None = Field(
        default=None, description="AWS region for AWS steps; default: the AWS SDK's own (AWS_REGION, profile)"
    )
    page_channels: list[str] = Field(
        default_factory=list,
        description="How a page reaches people: notifier names (webhook, slack, pagerduty); none: the "
        "timeline and `warroom oncall pages` only",
    )
    page_webhook_url: str | None = Field(default=None, description="Where the webhook notifier POSTs pages")
    page_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the webhook notifier's X-Warroom-Signature"
    )
    slack_url: str = Field(default="https://slack.com/api", description="Slack Web API base URL")
    slack_token: SecretStr | None = Field(default=None, description="Slack bot token (chat:write)")
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="Slack app signing secret: the receiver checks the acknowledge button's posts",
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com", description="PagerDuty Events API v2 base URL"
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="Integration key of the PagerDuty service that pages for Warroom"
    )
    opsgenie_url: str = Field(
        default="https://api.opsgenie.com", description="Opsgenie API base URL (EU: api.eu)"
    )
    opsgenie_api_key: SecretStr | None = Field(default=None, description="Opsgenie API integration key")
    tracker: str = Field(default="local", description="Where incidents and action items are tracked")
    tracker_users: dict[str, str] = Field(
        default_factory=dict, description="Warroom name -> tracker account (GitHub login, Jira account id)"
    )
    github_url: str = Field(default="https://api.github.com", description="GitHub REST API base URL")
    github_repo: str | None = Field(
        default=None, description="owner/name of the repository for incident issues"
    )
    github_token: SecretStr | None = Field(default=None, description="GitHub token (issues: write)")
    jira_url: str | None = Field(default=None, description="Jira Cloud site, https://your-site.atlassian.net")
    jira_user: str | None = Field(default=None, description="Jira account email for the API token")
    jira_token: SecretStr | None = Field(default=None, description="Jira API token")
    jira_project: str = Field(default="INC", description="Jira project key incidents are filed in")
    generic_tracker: GenericTracker | None = Field(
        default=None, description="A JSON REST tracker described by URL templates and response fields"
    )
    appconfig_strategy: str = Field(
        default="AppConfig.AllAtOnce",
        description="AppConfig deployment strategy of a flag change (all at once: a kill switch)",
    )
    kubernetes_service_host: str | None = Field(
        default=None, validation_alias="KUBERNETES_SERVICE_HOST", description="Set by Kubernetes in a pod"
    )
    kubernetes_service_port: str | None = Field(default=None, validation_alias="KUBERNETES_SERVICE_PORT")

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
    """The process-wide settings, read once."""
    return Settings()
