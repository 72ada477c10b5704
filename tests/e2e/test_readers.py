"""A real feed reader, newsboat, subscribed to the real `feedd serve` on 127.0.0.1.

newsboat runs unattended (`-x reload`) with its own urls file, config and SQLite cache in a
temporary folder (HOME and the XDG folders too); what the reader has is read back from that cache.
Each feed format gets a reader of its own: newsboat keys items by guid alone, so one cache
subscribed to both the Atom and the RSS feed (which share entry ids) holds each article once,
under whichever feed was fetched last.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Daemon, article, running_daemon, wait_for

NEWSBOAT = shutil.which("newsboat")
if NEWSBOAT is None:
    pytest.skip("newsboat is not installed (apt-get install newsboat)", allow_module_level=True)

ARTICLES = {
    "plain.txt": "Parliament passes the budget",
    "urdu.txt": "چین کے وزیر خارجہ کا دورہ پاکستان",
    "markup.txt": 'Tom & Jerry <script>alert("x")</script> sign a deal',
}


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    url: str
    feedurl: str


class Newsboat:
    """One newsboat profile subscribed to one feed URL, driven with `-x reload`."""

    def __init__(self, folder: Path, url: str) -> None:
        self.url = url
        folder.mkdir()
        home = folder / "home"
        home.mkdir()
        self.urls = folder / "urls"
        self.urls.write_text(url + "\n")
        self.config = folder / "config"
        self.config.write_text("download-timeout 10\n")
        self.cache = folder / "cache.db"
        self.log = folder / "newsboat.log"
        # curl honours *_proxy variables: a proxy must never stand between reader and daemon.
        self.env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
        self.env |= {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "no_proxy": "*",
        }

    def run(self, *commands: str) -> str:
        assert NEWSBOAT is not None
        files = ["-u", str(self.urls), "-c", str(self.cache), "-C", str(self.config)]
        done = subprocess.run(
            [NEWSBOAT, *files, "-l", "4", "-d", str(self.log), "-x", *commands],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr, self.logged())
        return done.stdout

    def reload(self) -> None:
        """Fetch the feed once; newsboat exits 0 even when the download failed, so check items."""
        self.run("reload")

    def logged(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(f"file:{self.cache}?mode=ro", uri=True)) as db:
            return db.execute(sql, args).fetchall()

    def items(self) -> list[Item]:
        rows = self._query(
            "SELECT guid, title, url, feedurl FROM rss_item WHERE deleted = 0 ORDER BY id"
        )
        return [Item(*map(str, row)) for row in rows]

    def validators(self) -> tuple[int, str]:
        """The Last-Modified (epoch seconds) and ETag newsboat keeps for its conditional GET."""
        [(modified, etag)] = self._query(
            "SELECT lastmodified, etag FROM rss_feed WHERE rssurl = ?", self.url
        )
        return int(str(modified)), str(etag)


def page_path(name: str) -> str:
    return "/articles/" + name.removesuffix(".txt") + ".html"


def expected(articles: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((title, page_path(name)) for name, title in articles.items())


def seen(reader: Newsboat) -> list[tuple[str, str]]:
    """(title, link path) of every item the reader holds; a duplicate shows up twice."""
    return sorted((item.title, urlsplit(item.url).path) for item in reader.items())


def served_ids(daemon: Daemon) -> dict[str, str]:
    """Entry id by page path, as the daemon serves them (JSON Feed carries the same ids)."""
    items = json.loads(daemon.get("/feed.json").body)["items"]
    return {urlsplit(item["url"]).path: item["id"] for item in items}


def answered(daemon: Daemon, status: int) -> int:
    metrics = daemon.get("/metrics").body.decode()
    found = re.search(rf'^feedd_http_requests_total\{{status="{status}"\}} (\d+)$', metrics, re.M)
    return int(found.group(1)) if found else 0


# The seeds were written an hour ago, in a whole second: every change below is later.
SEEDED = int(time.time()) - 3600


def put(folder: Path, name: str, text: str, mtime: float) -> None:
    """Write `name` as careful publishers do: under a hidden name, dated, renamed into place."""
    temporary = folder / f".{name}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.utime(temporary, (mtime, mtime))
    os.replace(temporary, folder / name)


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    for name, title in ARTICLES.items():
        (folder / name).write_text(article(title), encoding="utf-8")
        os.utime(folder / name, (SEEDED, SEEDED))
    return folder


FEEDS = ("/feed.atom", "/feed.rss")


def subscribe(daemon: Daemon, feed: str, folder: Path) -> Newsboat:
    return Newsboat(folder, f"http://127.0.0.1:{daemon.port}{feed}")


def subscribe_to_each_feed(daemon: Daemon, folder: Path) -> list[Newsboat]:
    """One reader per feed format, on the same daemon (a daemon takes most of a test's time)."""
    return [subscribe(daemon, feed, folder / feed.strip("/")) for feed in FEEDS]


def test_the_reader_sees_every_article_with_its_page(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        ids = served_ids(daemon)
        for reader in subscribe_to_each_feed(daemon, tmp_path):
            reader.reload()
            assert seen(reader) == expected(ARTICLES), (reader.url, reader.logged())
            for item in reader.items():
                link = urlsplit(item.url)
                assert (link.scheme, link.hostname) == ("http", "127.0.0.1"), item
                assert item.feedurl == reader.url
                assert item.guid == ids[link.path], item  # the entry's stable id, not its link
                page = daemon.get(link.path)
                assert page.status == 200, (item, page)
                text = page.body.decode()
                assert "<script" not in text  # the headline is text on the page, as in the feed
                assert item.title in html.unescape(text)
            assert reader.run("print-unread").strip() == f"{len(ARTICLES)} unread articles"


def test_a_dropped_file_and_an_edit_reach_the_next_fetch_once(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        readers = subscribe_to_each_feed(daemon, tmp_path)
        # newsboat stores ETag and Last-Modified from its second reload on (at the first, its feed
        # row does not exist yet): every fetch below is a conditional GET, which must not hide
        # the changes.
        for reader in readers:
            reader.reload()
            reader.reload()
            assert reader.validators()[1], (reader.url, reader.logged())
        not_modified = answered(daemon, 304)
        guids = {urlsplit(item.url).path: item.guid for item in readers[0].items()}

        def served(articles: dict[str, str]) -> bool:
            return all(daemon.titles(feed) == set(articles.values()) for feed in FEEDS)

        def fetched(articles: dict[str, str]) -> None:
            for reader in readers:
                reader.reload()
                assert seen(reader) == expected(articles), (reader.url, reader.logged())

        articles = dict(ARTICLES)
        articles["new.txt"] = "Fresh: a file dropped into the folder"
        put(seeds, "new.txt", article(articles["new.txt"]), SEEDED + 60)
        wait_for(lambda: served(articles), what="the new article served")
        fetched(articles)

        # Edited in place, now: seconds after the drop above (see the Last-Modified tests below for why).
        articles["plain.txt"] = "Parliament passes the amended budget"
        (seeds / "plain.txt").write_text(
            article(articles["plain.txt"], body="Amended after a late vote."), encoding="utf-8"
        )
        wait_for(lambda: served(articles), what="the edit served")
        fetched(articles)

        # The edit kept its id, so each reader updated its item instead of adding one.
        for reader in readers:
            after = {urlsplit(item.url).path: item.guid for item in reader.items()}
            assert len(after) == len(reader.items()) == len(articles)
            assert {path: after[path] for path in guids} == guids
        assert answered(daemon, 304) == not_modified  # every change was answered in full


def test_a_reload_with_nothing_changed_is_answered_304(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        for reader in subscribe_to_each_feed(daemon, tmp_path):
            feed = urlsplit(reader.url).path
            reader.reload()
            reader.reload()  # the first that stores the validators (see above)
            before = reader.items()
            modified, etag = reader.validators()

            # What newsboat keeps is what the daemon sends it (the gzip variant: it accepts gzip).
            served = daemon.get(feed, {"Accept-Encoding": "gzip, deflate"})
            assert served.status == 200
            assert etag == served.headers["etag"]
            assert modified == parsedate_to_datetime(served.headers["last-modified"]).timestamp()

            not_modified = answered(daemon, 304)
            reader.reload()  # sends If-None-Match and If-Modified-Since
            assert answered(daemon, 304) == not_modified + 1, feed
            assert reader.items() == before
            assert reader.validators() == (modified, etag)


class Missed(Exception):
    """What the daemon serves and the reader, after fetching it, does not have."""


def test_links_name_the_port_the_daemon_listens_on(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        reader = subscribe(daemon, "/feed.atom", tmp_path / "newsboat")
        reader.reload()
        items = reader.items()
        assert len(items) == len(ARTICLES), reader.logged()
        for item in items:
            if urlsplit(item.url).port != daemon.port:
                raise Missed(f"link {item.url}: the daemon is on port {daemon.port}")


# newsboat sends If-Modified-Since through libcurl's CURLOPT_TIMECONDITION, and libcurl discards
# a 200 whose Last-Modified is not later than it: if Last-Modified did not move when the bytes
# changed (an edit in the same second, a file with an older mtime), the reader would keep its old
# items and store the new ETag, and the change would stay unseen. These tests pin that it moves.


def reloads_see(reader: Newsboat, title: str) -> None:
    """Two reloads: the first fetches the change, the second (a 304) would not bring it."""
    for attempt in ("first", "second"):
        reader.reload()
        if title not in {item.title for item in reader.items()}:
            raise Missed(f"{title!r} not in the reader after its {attempt} reload")


def test_an_edit_in_the_same_second_reaches_the_reader(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        reader = subscribe(daemon, "/feed.atom", tmp_path / "newsboat")
        reader.reload()
        reader.reload()
        assert reader.validators()[0] == SEEDED

        edited = "Parliament passes the amended budget"
        put(seeds, "plain.txt", article(edited), SEEDED + 0.5)
        wait_for(lambda: edited in daemon.titles(), what="the edit served")
        reloads_see(reader, edited)


def test_a_file_dropped_with_an_old_mtime_reaches_the_reader(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        reader = subscribe(daemon, "/feed.atom", tmp_path / "newsboat")
        reader.reload()
        reader.reload()
        assert reader.validators()[0] == SEEDED

        title = "Archived: copied in with its original date"
        put(seeds, "archived.txt", article(title), SEEDED - 86400)
        wait_for(lambda: title in daemon.titles(), what="the archived article served")
        reloads_see(reader, title)
