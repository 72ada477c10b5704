"""One frozen `Settings`, built from defaults < TOML file < `FEEDD_*` environment < flags."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "FEEDD_"
MiB = 1024 * 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class SettingsError(ValueError):
    """A setting has a value feedd cannot use; the message names the key and the value."""


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything feedd can be told. The field list is the registry: flags, TOML keys,
    environment variables and the README table are all derived from it."""

    seeds: Path = _setting(Path("seeds"), "the folder of articles to publish (walked recursively)")
    title: str = _setting("feedd", "the site's and the feeds' title")
    description: str = _setting("Latest articles", "the feeds' subtitle (RSS requires one)")
    author: str = _setting("feedd", "feed-level author, used for entries without a byline")
    base_url: str = _setting("", "absolute URL the site is reached at (default http://HOST:PORT/)")
    language: str = _setting("en", "the site's language (BCP 47), for the feeds and HTML pages")
    timezone: str = _setting("UTC", "IANA time zone that header dates and byline times are in")
    include: tuple[str, ...] = _setting(("*.txt",), "file name patterns that are articles")
    max_entries: int = _setting(50, "newest articles carried in each feed and on the index")
    max_feed_bytes: int = _setting(2 * MiB, "largest feed document; fewer entries rather than more")
    max_article_bytes: int = _setting(
        1 * MiB, "larger article files are rejected, never read whole"
    )
    host: str = _setting("127.0.0.1", "address `feedd serve` listens on")
    port: int = _setting(8080, "port `feedd serve` listens on")
    cache_max_age: int = _setting(60, "seconds readers and proxies may cache a document")
    keepalive_timeout: float = _setting(
        15.0, "seconds a connection may stay idle, or take to send a request"
    )
    send_timeout: float = _setting(
        60.0, "seconds a client may leave its answer untaken before the connection is dropped"
    )
    rescan_interval: float = _setting(300.0, "seconds between safety-net full rescans (0: never)")
    debounce_ms: int = _setting(
        4, "milliseconds a batch of changes waits for a change to another file"
    )
    cache: bool = _setting(
        True, "keep what each file parsed to, so a restart costs a stat per file"
    )
    state_dir: str = _setting(
        "", "where the cache lives (default $STATE_DIRECTORY, else ~/.cache/feedd)"
    )
    access_log: bool = _setting(False, "log every request (costs throughput)")
    hubs: tuple[str, ...] = _setting(
        (), "WebSub hub URLs the feeds name and feedd pings after each update"
    )
    publish: str = _setting(
        "", "serve only: keep a static copy of the whole site in this folder, for nginx or a CDN"
    )
    archive_max_age: int = _setting(
        3600, "seconds caches may keep an archive page of a month before the newest archived one"
    )

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def site_url(self) -> str:
        """`base_url` with a trailing slash, or the listening address when it is unset."""
        url = self.base_url or f"http://{_url_host(self.host)}:{self.port}/"
        return url if url.endswith("/") else url + "/"


def setting_help() -> dict[str, tuple[Any, str]]:
    """Each setting's default and help text, in declaration order."""
    return {f.name: (f.default, f.metadata["help"]) for f in dataclasses.fields(Settings)}


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Layer the sources, later ones winning. `overrides` are flags already parsed (None: unset)."""
    environ = os.environ if environ is None else environ
    types = {f.name: f.type for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    config_file = config_file or (
        Path(environ["FEEDD_CONFIG"]) if "FEEDD_CONFIG" in environ else None
    )
    if config_file is not None:
        for key, value in _read_toml(config_file).items():
            if key not in types:
                raise SettingsError(f"{config_file}: unknown setting {key!r}")
            values[key] = _coerce(key, value, types[key], f"{config_file}: ")
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "FEEDD_CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in types:
            raise SettingsError(f"environment variable {name}: unknown setting {key!r}")
        values[key] = _coerce(key, value, types[key], f"environment variable {name}: ")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, types[key], "")
    return Settings(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from error
    table = data.get("feedd", data)
    if not isinstance(table, dict):
        raise SettingsError(f"config file {path}: 'feedd' must be a table of settings")
    return table


def _coerce(key: str, value: Any, kind: Any, where: str) -> Any:
    """Turn a TOML value or a string from the environment or a flag into the setting's type."""
    bad = SettingsError(
        f"{where}setting {key!r} has value {value!r}: not a valid {_kind_name(kind)}"
    )
    if kind in ("int", int):
        if isinstance(value, bool):
            raise bad
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad from None
    if kind in ("float", float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if kind in ("bool", bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise bad
    if kind in ("Path", Path):
        if not isinstance(value, (str, Path)):
            raise bad
        return Path(value)
    if kind == "tuple[str, ...]":
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if not isinstance(value, str):
        raise bad
    return value


def _kind_name(kind: Any) -> str:
    return {
        "int": "integer",
        "float": "number",
        "bool": "boolean (true/false)",
        "Path": "path",
        "tuple[str, ...]": "list of strings",
    }.get(str(kind), "string")


def _validate(settings: Settings) -> None:
    def refuse(key: str, why: str) -> SettingsError:
        return SettingsError(f"setting {key!r} has value {getattr(settings, key)!r}: {why}")

    for key in ("max_entries", "max_feed_bytes", "max_article_bytes"):
        if getattr(settings, key) < 1:
            raise refuse(key, "must be at least 1")
    for key in ("keepalive_timeout", "send_timeout"):
        # 0 (or infinity) would mean never: one client could hold a connection for ever.
        if not 0 < getattr(settings, key) < math.inf:
            raise refuse(key, "must be a number of seconds above 0")
    for hub in settings.hubs:
        parts = urlsplit(hub)
        if parts.scheme not in ("http", "https") or not parts.netloc or _CONTROL.search(hub):
            raise refuse("hubs", f"{hub!r} is not an absolute http:// or https:// URL")
    for key in ("cache_max_age", "archive_max_age", "rescan_interval", "debounce_ms"):
        if getattr(settings, key) < 0:
            raise refuse(key, "must not be negative")
    if not 0 <= settings.port <= 65535:
        raise refuse("port", "must be between 0 and 65535")
    if not settings.include:
        raise refuse("include", "needs at least one pattern")
    if not settings.title.strip():
        raise refuse("title", "must not be empty")
    for key in ("title", "description", "author", "language"):
        if _CONTROL.search(getattr(settings, key)):
            raise refuse(key, "holds control characters, which feeds cannot carry")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise refuse("timezone", "not an IANA time zone name (like Europe/Berlin)") from None
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise refuse("base_url", "must be an absolute http:// or https:// URL")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
