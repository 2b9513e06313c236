"""Warroom's settings: the one place that reads the environment (prefix ``WARROOM_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.incident import Severity
from warroom.severity import SeverityPolicy


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
    severity: dict[Severity, SeverityPolicy] = Field(
        default_factory=dict, description="Per-level overrides of the severity policy table"
    )
    default_severity: Severity = Field(
        default=Severity.P3, description="Level used when no triage rule or alert label decides"
    )

    def ledger_url(self) -> str:
        """The ledger's database URL, with the embedded SQLite default."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'warroom.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
