"""Settings: defaults < TOML file < FEEDD_* environment < flags, refused with key and value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedd.cli import main
from feedd.config import Settings, SettingsError, load_settings


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "feedd.toml"
    config.write_text(
        'title = "from toml"\nport = 9000\nmax_entries = 10\ninclude = ["*.txt", "*.md"]\n'
    )
    environ = {"FEEDD_PORT": "9001", "FEEDD_MAX_ENTRIES": "20"}
    settings = load_settings(config, environ, {"max_entries": "30", "title": None})
    assert settings.title == "from toml"
    assert settings.port == 9001
    assert settings.max_entries == 30
    assert settings.include == ("*.txt", "*.md")
    assert settings.description == Settings().description


def test_config_file_from_the_environment_and_a_feedd_table(tmp_path: Path) -> None:
    config = tmp_path / "x.toml"
    config.write_text('[feedd]\ntimezone = "Asia/Karachi"\naccess_log = true\n')
    settings = load_settings(None, {"FEEDD_CONFIG": str(config)})
    assert settings.timezone == "Asia/Karachi"
    assert settings.access_log is True


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"FEEDD_PORT": "http"},
            "environment variable FEEDD_PORT: setting 'port' has value 'http': not a valid integer",
        ),
        ({"FEEDD_PORT": "70000"}, "setting 'port' has value 70000: must be between 0 and 65535"),
        ({"FEEDD_MAX_ENTRIES": "0"}, "setting 'max_entries' has value 0: must be at least 1"),
        ({"FEEDD_TIMEZONE": "Mars/Olympus"}, "setting 'timezone' has value 'Mars/Olympus'"),
        ({"FEEDD_BASE_URL": "example.com"}, "setting 'base_url' has value 'example.com'"),
        (
            {"FEEDD_ACCESS_LOG": "maybe"},
            "setting 'access_log' has value 'maybe': not a valid boolean",
        ),
        ({"FEEDD_TITEL": "x"}, "FEEDD_TITEL: unknown setting 'titel'"),
        (
            {"FEEDD_RESCAN_INTERVAL": "-1"},
            "setting 'rescan_interval' has value -1.0: must not be negative",
        ),
    ],
)
def test_bad_values_are_refused_naming_key_and_value(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, environ)
    assert message in str(error.value)


def test_bad_config_files_are_refused_clearly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("title = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken, {})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        load_settings(unknown, {})
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text("max_entries = 'many'\n")
    with pytest.raises(SettingsError, match="'max_entries' has value 'many'"):
        load_settings(wrong_type, {})
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml", {})


def test_site_url_defaults_to_the_listening_address() -> None:
    assert Settings().site_url == "http://127.0.0.1:8080/"
    assert Settings(host="::1", port=81).site_url == "http://[::1]:81/"
    assert (
        Settings(base_url="https://news.example.com/feeds").site_url
        == "https://news.example.com/feeds/"
    )


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().title = "x"  # type: ignore[misc]


def test_the_cli_refuses_a_bad_flag_with_exit_status_2(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    assert main(["check", str(tmp_path), "--max-entries", "lots"]) == 2
    assert "'max_entries' has value 'lots'" in caplog.text


def test_settings_feeds_cannot_carry_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match="'title' has value 'A\\\\x01B': holds control characters"
    ):
        load_settings(None, {"FEEDD_TITLE": "A\x01B"})
    not_a_table = tmp_path / "x.toml"
    not_a_table.write_text('feedd = "x"\n')
    with pytest.raises(SettingsError, match="'feedd' must be a table"):
        load_settings(not_a_table, {})
