"""How the SSH steps reach hosts: the inventory, strict host keys, credentials and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from warroom.settings import IntegrationSettings, integration_config


class SshSettings(IntegrationSettings):
    """SSH hosts (the `ssh.*` steps)"""

    model_config = integration_config("ssh")

    inventory: Path | None = Field(default=None, description="Ansible YAML inventory of SSH hosts")
    config: Path | None = Field(
        default=Path.home() / ".ssh" / "config",
        description="ssh_config honoured for HostName, Port, User, IdentityFile, ProxyJump",
    )
    known_hosts: Path = Field(
        default=Path.home() / ".ssh" / "known_hosts", description="The only trusted host keys (strict)"
    )
    user: str | None = Field(default=None, description="Default login when the inventory names none")
    key_file: Path | None = Field(default=None, description="Private key file")
    key_block: str | None = Field(
        default=None, description="Prefect Secret block holding the private key instead"
    )
    key_passphrase: SecretStr | None = Field(default=None, description="The key's passphrase; never shown")
    password: SecretStr | None = Field(default=None, description="Login password; never shown")
    concurrency: int = Field(default=32, ge=1, le=512, description="Hosts worked on at once")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to connect, per host")
    command_timeout: float = Field(default=60.0, gt=0, description="Seconds a command may run, per host")
    output_limit: int = Field(default=64_000, ge=1_000, description="Bytes of stdout/stderr kept per host")
    commands_file: Path | None = Field(
        default=None, description="YAML command catalogue laid over the built-in one"
    )
    commands: dict[str, Any] = Field(default_factory=dict, description="Catalogue entries laid over the file")
