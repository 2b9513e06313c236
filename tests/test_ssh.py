"""SSH steps against a real OpenSSH sshd on 127.0.0.1: strict host keys, the catalogue, fan-out, failures."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tasks import ssh
from tasks.ssh import POOL, HostStatus, run_on_hosts
from tasks.ssh.settings import SshSettings
from tests.conftest import PASSPHRASE
from tests.net import free_port
from tests.sshd import Sshd, keygen
from warroom.commands import CommandError
from warroom.inventory import InventoryError
from warroom.settings import get_settings


def write_inventory(path: Path, sshd: Sshd, dead_port: int) -> None:
    fleet = {f"node{n:02d}": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port} for n in range(1, 51)}
    inventory = {
        "all": {
            "vars": {"ansible_user": sshd.user},
            "children": {
                "web": {
                    "hosts": {
                        "web1": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port, "role": "api"},
                        "web2": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port, "role": "batch"},
                    }
                },
                "fleet": {"hosts": fleet},
                "broken": {
                    "hosts": {
                        "dead1": {"ansible_host": "127.0.0.1", "ansible_port": dead_port},
                        "nowhere": {"ansible_host": "no-such-host.invalid", "ansible_port": 22},
                    }
                },
            },
        }
    }
    path.write_text(yaml.safe_dump(inventory))


@pytest.fixture
def ssh_env(sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sshd]:
    write_inventory(tmp_path / "inventory.yaml", sshd, free_port())
    marker_dir = tmp_path / "marks"
    marker_dir.mkdir()
    monkeypatch.setenv("WARROOM_SSH_INVENTORY", str(tmp_path / "inventory.yaml"))
    monkeypatch.setenv("WARROOM_SSH_KNOWN_HOSTS", str(sshd.known_hosts))
    monkeypatch.setenv("WARROOM_SSH_KEY_FILE", str(sshd.client_key))
    monkeypatch.setenv("WARROOM_SSH_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("WARROOM_SSH_CONFIG", str(tmp_path / "no-ssh-config"))
    monkeypatch.setenv("WARROOM_SSH_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv(
        "WARROOM_SSH_COMMANDS",
        json.dumps(
            {
                "echo_word": {"run": "printf '%s\\n' {word}", "patterns": {"word": ".{0,100}"}},
                "touch_mark": {
                    "run": f"touch {marker_dir}/{{name}}",
                    "patterns": {"name": "[a-z]+"},
                    "changes": True,
                },
                "slow": {"run": "sleep 5"},
                "noisy": {"run": "head -c 300000 /dev/zero | tr '\\\\0' x"},
            }
        ),
    )
    get_settings.cache_clear()
    POOL.close()
    yield sshd
    POOL.close()


def test_catalogue_command_runs_and_disk_usage_is_parsed(ssh_env: Sshd) -> None:
    result = ssh.disk(ssh.DiskParams(hosts="web1", threshold_percent=1))
    assert (result.ok, result.failed, result.unreachable) == (1, 0, 0)
    [host] = result.hosts
    assert host.exit_code == 0 and "Filesystem" in host.stdout
    usage = result.findings["usage"]["web1"]
    assert usage and all({"mount", "percent", "size_kb"} <= set(row) for row in usage)
    assert result.findings["over_threshold"]  # at 1% every real filesystem is over
    top = ssh.run(ssh.ReadParams(hosts="web", command="top_processes"))
    assert top.ok == 2 and all("PID" in h.stdout for h in top.hosts)


def test_selection_by_group_glob_and_label(ssh_env: Sshd) -> None:
    assert run_on_hosts("role=api", "uptime", {}, allow_changes=False).hosts[0].host == "web1"
    assert len(run_on_hosts("node0*", "uptime", {}, allow_changes=False).hosts) == 9
    assert len(run_on_hosts("web1,web2", "uptime", {}, allow_changes=False).hosts) == 2


def test_values_are_quoted_never_executed(ssh_env: Sshd) -> None:
    result = run_on_hosts("web1", "echo_word", {"word": "$(id -u); echo owned `whoami`"}, allow_changes=False)
    assert result.hosts[0].stdout == "$(id -u); echo owned `whoami`\n"


@pytest.mark.parametrize(
    ("hosts", "args", "message"),
    [
        ("web1; rm -rf /", {"service": "nginx"}, "invalid host selection term 'web1; rm -rf /'"),
        ("web1", {"service": "$(reboot)"}, "refused value for {service}: '$(reboot)'"),
        ("web1", {"service": "nginx; reboot"}, "refused value for {service}"),
        ("web1", {"service": "nginx\nreboot"}, "refused value for {service}"),
    ],
)
def test_injection_attempts_are_refused_and_no_host_is_touched(
    ssh_env: Sshd, hosts: str, args: dict[str, str], message: str
) -> None:
    opened = POOL.opened
    with pytest.raises((CommandError, InventoryError), match=re.escape(message)):
        run_on_hosts(hosts, "service_status", args, allow_changes=False)
    assert POOL.opened == opened  # refused before any connection


def test_the_step_refuses_an_injected_label_with_a_clear_error(ssh_env: Sshd) -> None:
    with pytest.raises(ValueError, match=r"service_status: refused value for \{service\}"):
        ssh.service_status(ssh.ServiceParams.model_construct(hosts="web1", service="$(reboot)", sudo=False))
    with pytest.raises(ValueError, match="String should match pattern"):
        ssh.ServiceParams(hosts="web1", service="$(reboot)")


def test_changing_commands_only_run_as_mitigations(ssh_env: Sshd, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"touch_mark changes the host: use ssh\.apply"):
        ssh.ReadParams(hosts="web1", command="touch_mark", args={"name": "x"})
    with pytest.raises(CommandError, match="only run as an approved mitigation"):
        run_on_hosts("web1", "touch_mark", {"name": "x"}, allow_changes=False)
    assert not (tmp_path / "marks" / "x").exists()
    done = ssh.apply(ssh.ChangeParams(hosts="web1", command="touch_mark", args={"name": "x"}))
    assert done.ok == 1 and (tmp_path / "marks" / "x").exists()


def test_unknown_host_key_is_refused_with_host_and_fingerprint(
    ssh_env: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    monkeypatch.setenv("WARROOM_SSH_KNOWN_HOSTS", str(empty))
    get_settings.cache_clear()
    [host] = run_on_hosts("web1", "uptime", {}, allow_changes=False).hosts
    assert host.status is HostStatus.UNREACHABLE and host.error_kind == "host_key_unknown"
    assert f"[127.0.0.1]:{ssh_env.port} is not in known_hosts" in (host.error or "")
    assert "SHA256:" in (host.error or "")
    assert empty.read_text() == ""  # never added


def test_changed_host_key_is_refused(ssh_env: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keygen(tmp_path / "impostor")
    impostor = (tmp_path / "impostor.pub").read_text().split()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{ssh_env.port} {impostor[0]} {impostor[1]}\n")
    monkeypatch.setenv("WARROOM_SSH_KNOWN_HOSTS", str(wrong))
    get_settings.cache_clear()
    [host] = run_on_hosts("web1", "uptime", {}, allow_changes=False).hosts
    assert host.error_kind == "host_key_changed"
    assert "CHANGED" in (host.error or "") and "web1" in (host.error or "")


def test_auth_failure_dns_failure_refused_and_timeout_are_distinct(
    ssh_env: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listener that accepts and never speaks: the SSH banner never comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    inventory = yaml.safe_load(Path(get_settings().of(SshSettings).inventory).read_text())  # type: ignore[arg-type]
    inventory["all"]["children"]["broken"]["hosts"]["mute"] = {
        "ansible_host": "127.0.0.1",
        "ansible_port": silent.getsockname()[1],
    }
    Path(get_settings().of(SshSettings).inventory).write_text(yaml.safe_dump(inventory))  # type: ignore[arg-type]
    try:
        broken = {h.host: h for h in run_on_hosts("broken", "uptime", {}, allow_changes=False).hosts}
    finally:
        silent.close()
    assert broken["dead1"].error_kind == "refused"
    assert broken["nowhere"].error_kind == "dns"
    assert broken["mute"].error_kind in ("connect_timeout", "ssh_error")
    assert "banner" in (broken["mute"].error or "").lower() or "timed out" in (broken["mute"].error or "")
    keygen(tmp_path / "stranger")
    monkeypatch.setenv("WARROOM_SSH_KEY_FILE", str(tmp_path / "stranger"))
    monkeypatch.delenv("WARROOM_SSH_KEY_PASSPHRASE")
    get_settings.cache_clear()
    [denied] = run_on_hosts("web1", "uptime", {}, allow_changes=False).hosts
    assert denied.error_kind == "auth_failed"


def test_fifty_targets_complete_and_a_dead_host_does_not_block_them(ssh_env: Sshd) -> None:
    result = run_on_hosts("fleet,dead1", "uptime", {}, allow_changes=False)
    assert len(result.hosts) == 51
    assert (result.ok, result.unreachable) == (50, 1)
    assert [h.host for h in result.hosts if h.status is HostStatus.UNREACHABLE] == ["dead1"]


def test_command_timeout_and_output_cap(ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_SSH_COMMAND_TIMEOUT", "1")
    monkeypatch.setenv("WARROOM_SSH_OUTPUT_LIMIT", "10000")
    get_settings.cache_clear()
    [slow] = run_on_hosts("web1", "slow", {}, allow_changes=False).hosts
    assert slow.status is HostStatus.FAILED and slow.error_kind == "command_timeout"
    # The cap, not the clock: 300 kB through a busy machine's sshd may take longer than 1 s.
    monkeypatch.setenv("WARROOM_SSH_COMMAND_TIMEOUT", "120")
    get_settings.cache_clear()
    [noisy] = run_on_hosts("web1", "noisy", {}, allow_changes=False).hosts
    assert noisy.truncated and len(noisy.stdout) == 10000


def test_connections_are_reused_across_steps(ssh_env: Sshd) -> None:
    run_on_hosts("web1", "uptime", {}, allow_changes=False)
    opened = POOL.opened
    run_on_hosts("web1", "top_processes", {}, allow_changes=False)
    ssh.disk(ssh.DiskParams(hosts="web1"))
    assert POOL.opened == opened


def test_secrets_never_appear_in_results(ssh_env: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_SSH_COMMANDS", json.dumps({"leak": {"run": f"echo {PASSPHRASE}"}}))
    get_settings.cache_clear()
    result = run_on_hosts("web1", "leak", {}, allow_changes=False)
    dumped = result.model_dump_json()
    assert result.ok == 1 and PASSPHRASE not in dumped and "***" in dumped


def test_parallel_steps_share_one_pool_safely(ssh_env: Sshd) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert run_on_hosts("web", "uptime", {}, allow_changes=False).ok == 2
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_with_no_inventory_configured_the_error_says_so_not_that_the_host_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARROOM_SSH_INVENTORY", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"no SSH inventory is configured.*set WARROOM_SSH_INVENTORY"):
        ssh.disk(ssh.DiskParams(hosts="web-1"))
    empty = tmp_path / "inventory.yaml"
    empty.write_text("all: {}\n")
    monkeypatch.setenv("WARROOM_SSH_INVENTORY", str(empty))
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=f"the SSH inventory {re.escape(str(empty))} names no hosts"):
        ssh.disk(ssh.DiskParams(hosts="web-1"))
