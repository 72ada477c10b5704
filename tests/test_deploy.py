"""deploy/: the example settings file and the hardened systemd unit stay in step with feedd."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import PROJECT

from feedd.config import load_settings, setting_help

DEPLOY = PROJECT / "deploy"
UNIT = DEPLOY / "feedd.service"
EXAMPLE = DEPLOY / "feedd.toml"
MAX_EXPOSURE = 2.0


def unit_entries(path: Path = UNIT) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value assigned, in order (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path}: {line!r} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service() -> dict[str, list[str]]:
    return unit_entries()["Service"]


def example_keys() -> set[str]:
    data = tomllib.loads(EXAMPLE.read_text())
    return set(data.get("feedd", data))


# --- deploy/feedd.toml ---------------------------------------------------------------------


def test_example_config_sets_every_setting_and_loads() -> None:
    assert example_keys() == set(setting_help())
    settings = load_settings(EXAMPLE, environ={})
    assert settings.seeds == Path("/srv/feedd/seeds")
    assert settings.host == "127.0.0.1"
    assert settings.base_url == "https://news.example.com/"


def test_example_config_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    for key, (_default, help_text) in setting_help().items():
        assert f"# {help_text}\n" in text, f"help text of {key!r} missing"
        assert f"# default: {key} = " in text, f"default of {key!r} missing"


# --- deploy/feedd.service ------------------------------------------------------------------


def test_unit_speaks_feedds_systemd_protocol() -> None:
    unit = service()
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"] == ["30"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Restart"] == ["on-failure"]
    (exec_start,) = unit["ExecStart"]
    assert exec_start.split()[1:] == ["serve", "--config", "/etc/feedd/feedd.toml"]


HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "feedd",
    "UMask": "0077",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "CapabilityBoundingSet": "",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
}


@pytest.mark.parametrize(("key", "value"), HARDENING.items())
def test_unit_is_hardened(key: str, value: str) -> None:
    assert service().get(key) == [value]


def test_unit_system_calls_and_sockets_leave_what_feedd_needs() -> None:
    unit = service()
    filters = unit["SystemCallFilter"]
    assert filters[0] == "@system-service"  # includes inotify_* and prlimit64
    # Allowed again after the denials: the update process lowers its own priority.
    assert filters[-1] == "setpriority"
    for denied in filters[1:-1]:
        assert denied.startswith("~")
        assert not {"@file-system", "@io-event", "@network-io"} & set(denied[1:].split())
        assert "inotify" not in denied
    families = " ".join(unit["RestrictAddressFamilies"]).split()
    assert set(families) == {"AF_INET", "AF_INET6", "AF_UNIX"}  # AF_UNIX: $NOTIFY_SOCKET


def test_unit_paths_match_the_example_config() -> None:
    settings = load_settings(EXAMPLE, environ={})
    # ProtectSystem=strict makes the articles folder read-only; a missing one is a
    # configuration error (exit status 2), which must fail the unit rather than restart it.
    assert service()["ProtectSystem"] == ["strict"]
    assert not str(settings.seeds).startswith(("/home", "/root", "/tmp", "/var/tmp"))
    assert "2" in " ".join(service()["RestartPreventExitStatus"]).split()
    # A loopback-only IP allow list is only right while feedd listens on loopback.
    if "any" in service().get("IPAddressDeny", []):
        assert ipaddress.ip_address(settings.host).is_loopback
        assert service()["IPAddressAllow"] == ["localhost"]


# --- systemd-analyze -----------------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=30, check=False
    )


@needs_systemd_analyze
def test_unit_exposure_level_is_low() -> None:
    result = analyze("security", "--offline=true", str(UNIT))
    assert result.returncode == 0, result.stderr
    # A misspelt key is ignored with a warning; it would silently weaken the unit.
    assert "Unknown" not in result.stderr and "ignoring" not in result.stderr, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    match = re.search(r"Overall exposure level for feedd\.service: (\d+(?:\.\d+)?)", last)
    assert match, f"cannot parse: {last!r}"
    assert float(match[1]) <= MAX_EXPOSURE, last


@needs_systemd_analyze
def test_unit_verifies(tmp_path: Path) -> None:
    # verify insists that ExecStart= exists, and /usr/local/bin/feedd need not exist here.
    (exec_start,) = service()["ExecStart"]
    text = UNIT.read_text().replace(exec_start.split()[0], sys.executable)
    copy = tmp_path / "feedd.service"
    copy.write_text(text)
    result = analyze("verify", str(copy))
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr
