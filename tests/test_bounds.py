"""Resource bounds not already tested where they live, each at and just past its edge: the
connection settings, the page cache, the feed size, and how a
malformed request is logged. (Article size: test_library.py; request sizes, connections and
timeouts on the wire: test_hostile.py.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from feedd import urls
from feedd.config import Settings, SettingsError, load_settings
from feedd.parse.article import parse
from feedd.render.whole import render_site
from feedd.serve.listener import ClientErrorLog
from feedd.serve.ondemand import PageCache

# --- the connection settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "accepted", "refused"),
    [
        ("keepalive_timeout", "0.001", "0"),
        ("send_timeout", "0.001", "0"),
        ("keepalive_timeout", "1e9", "inf"),
        ("send_timeout", "5", "nan"),
        ("send_timeout", "5", "-1"),
    ],
)
def test_connection_settings_at_and_past_their_edge(key: str, accepted: str, refused: str) -> None:
    environ = {f"FEEDD_{key.upper()}": accepted}
    assert getattr(load_settings(environ=environ), key) == float(accepted)
    with pytest.raises(SettingsError, match=f"setting '{key}' has value"):
        load_settings(environ={f"FEEDD_{key.upper()}": refused})


def test_connection_defaults() -> None:
    settings = Settings()
    assert (settings.keepalive_timeout, settings.send_timeout) == (15.0, 60.0)


# --- the page cache ----------------------------------------------------------------------------


async def test_the_page_cache_keeps_its_size_and_builds_a_page_once() -> None:
    built: list[Any] = []

    def render(entry: Any) -> Any:
        built.append(entry)
        return f"page of {entry}"

    cache = PageCache(render, size=2)
    for entry in ("a", "b", "a"):  # at the limit: both kept
        assert await cache.get(entry) == f"page of {entry}"  # type: ignore[arg-type,comparison-overlap]
    assert built == ["a", "b"]
    await cache.get("c")  # type: ignore[arg-type]  # one past it: the least recent (b) goes
    await cache.get("a")  # type: ignore[arg-type]
    await cache.get("b")  # type: ignore[arg-type]
    assert built == ["a", "b", "c", "b"]
    await asyncio.gather(*(cache.get("d") for _ in range(10)))  # type: ignore[arg-type]
    assert built.count("d") == 1, "concurrent requests for one page wait for one build"


# --- the feed size -----------------------------------------------------------------------------


def _documents(limit: int) -> dict[str, bytes]:
    articles = {
        f"{i}.txt": parse(
            f"{i}.txt",
            f" date 2021-01-{i + 1:02} Wire\nStory {i}\n\nBody {i}.\n".encode(),
            mtime=1.6e9,
            tz=ZoneInfo("UTC"),
        )
        for i in range(5)
    }
    site = render_site(articles, 0, Settings(max_feed_bytes=limit))
    return {path: site.resources[path].body for path in (urls.ATOM, urls.RSS, urls.JSON)}


def test_a_feed_one_byte_too_large_loses_its_oldest_entry() -> None:
    whole = _documents(10 * 1024 * 1024)
    for path, body in whole.items():
        smaller = _documents(len(body) - 1)[path]
        assert len(smaller) <= len(body) - 1
        assert smaller.count(b"Story") < body.count(b"Story"), path
        assert b"Story 4" in smaller and b"Story 0" not in smaller, "the newest are kept"


def test_a_feed_exactly_max_feed_bytes_long_keeps_every_entry() -> None:
    # The largest of the three exactly at the limit. (With any of them cut, the archive takes
    # what it could not carry, and every main feed links it: their bytes change too.)
    whole = _documents(10 * 1024 * 1024)
    assert _documents(max(len(body) for body in whole.values())) == whole


# --- malformed requests in the log -------------------------------------------------------------


def test_a_malformed_request_is_one_debug_line_and_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted: list[int] = []
    log = ClientErrorLog(logging.getLogger("aiohttp.server"), counted.append)
    caplog.set_level(logging.DEBUG)
    bad = BadHttpMessage("Invalid header value char:\n\n  b'X-A: a\\x00b'\n    ^")
    log.exception("Error handling request from %s", "192.0.2.1", exc_info=bad)
    log.debug("Error handling request from %s", "192.0.2.1", exc_info=bad)
    assert counted == [400, 400]
    assert [r.getMessage() for r in caplog.records] == [
        "400 for a malformed request from 192.0.2.1: Invalid header value char:"
    ] * 2
    assert all(r.levelno == logging.DEBUG and not r.exc_info for r in caplog.records)
    caplog.clear()
    try:
        raise RuntimeError("a bug in feedd")
    except RuntimeError as bug:
        log.exception("Error handling request from %s", "192.0.2.1", exc_info=bug)
    assert caplog.records[0].levelno == logging.ERROR and caplog.records[0].exc_info
    assert counted == [400, 400], "only client errors are counted as such"
