"""The real `feedd serve` against its real counterparts: a reader that follows archive links
and subscribes from the OPML list, and a WebSub hub on loopback that records every ping."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import feedparser
import lxml.etree
import pytest
from helpers import Daemon, article, running_daemon, wait_for

from feedd.parse.article import entry_id

HISTORY = "{http://purl.org/syndication/history/1.0}archive"


class RecordingHub(ThreadingHTTPServer):
    """A hub that takes every publish ping (204) and remembers it."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.on_ping: Callable[[dict[str, list[str]]], None] | None = None
        super().__init__(("127.0.0.1", 0), _HubHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hub"

    def topics(self) -> set[str]:
        return {topic for ping in list(self.pings) for topic in ping.get("hub.url", [])}


class _HubHandler(BaseHTTPRequestHandler):
    server: RecordingHub

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        ping = parse_qs(self.rfile.read(length).decode())
        if self.server.on_ping is not None:
            self.server.on_ping(ping)
        self.server.pings.append(ping)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[RecordingHub]:
    server = RecordingHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    for n in range(27):  # November 2020 to January 2021, two sources
        month, day = (
            ("2020-11", 20 + n) if n < 10 else ("2020-12", n) if n < 20 else ("2021-01", n - 15)
        )
        source = "TASS" if n % 3 else "Meridian Wire"
        path = folder / f"{month}/a{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article(f"Story {n}", day=f"{month}-{day:02}", source=source))
    return folder


def local(url: str) -> str:
    return unquote(urlsplit(url).path)


def collect(daemon: Daemon, start: str) -> list[str]:
    """Every entry id a reader gets by following prev-archive (next_url) from `start`."""
    ids: list[str] = []
    path: str | None = start
    seen = set()
    while path is not None:
        assert path not in seen
        seen.add(path)
        response = daemon.get(path)
        assert response.status == 200, path
        if path.endswith(".json"):
            document = json.loads(response.body)
            ids += [item["id"] for item in document["items"]]
            path = local(document["next_url"]) if "next_url" in document else None
            continue
        parsed = feedparser.parse(response.body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        ids += [entry.id for entry in parsed.entries]
        archived = lxml.etree.fromstring(response.body).find(f".//{HISTORY}") is not None
        assert archived == path.startswith("/archive/"), path
        if archived:  # settled months are cached long; the newest one changes
            newest = "2021-01" in path
            age = "60" if newest else "7200"
            assert response.headers["cache-control"] == f"public, max-age={age}", path
        older = [link.href for link in parsed.feed.get("links", []) if link.rel == "prev-archive"]
        path = local(older[0]) if older else None
    return ids


def test_a_reader_collects_every_article_once_by_following_archive_links(seeds: Path) -> None:
    with running_daemon(seeds, "--max-entries", "4", "--archive-max-age", "7200") as daemon:
        expected = sorted(entry_id(p.relative_to(seeds).as_posix()) for p in seeds.rglob("*.txt"))
        for main in ("/feed.atom", "/feed.rss", "/feed.json"):
            assert sorted(collect(daemon, main)) == expected, main
        # Archive pages answer conditional requests like every other document.
        page = "/archive/2020-11.atom"
        etag = daemon.get(page).headers["etag"]
        assert daemon.get(page, {"If-None-Match": etag}).status == 304
        assert daemon.get("/archive/2020-10.atom").status == 404
        assert daemon.get("/archive/2020-11-1.atom").status == 404
        assert daemon.get("/sources/Nobody.atom").status == 404

        # A new old article lands in its archive page, and the reader finds it there.
        (seeds / "2020-11" / "late.txt").write_text(article("Late", day="2020-11-21"))
        wait_for(lambda: "Late" in _titles(daemon, page), what="the late article archived")
        assert len(collect(daemon, "/feed.atom")) == len(expected) + 1


def _titles(daemon: Daemon, path: str) -> set[str]:
    return {entry.title for entry in feedparser.parse(daemon.get(path).body).entries}


def test_the_opml_list_subscribes_to_every_feed(seeds: Path) -> None:
    with running_daemon(seeds, "--max-entries", "4") as daemon:
        response = daemon.get("/feeds.opml")
        assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
        outlines = lxml.etree.fromstring(response.body).iter("outline")
        feeds = sorted(local(o.get("xmlUrl")) for o in outlines if o.get("xmlUrl"))
        assert feeds == ["/feed.atom", "/sources/Meridian-Wire-863b98a7.atom", "/sources/TASS.atom"]
        for path in feeds[1:]:
            parsed = feedparser.parse(daemon.get(path).body)
            assert not parsed.bozo and len(parsed.entries) == 4
            source = parsed.feed.title.split(": ", 1)[1]
            assert {entry.category for entry in parsed.entries} == {source}


def test_hubs_are_advertised_and_pinged_once_per_burst(seeds: Path, hub: RecordingHub) -> None:
    with running_daemon(seeds, "--max-entries", "4", env={"FEEDD_HUBS": hub.url}) as daemon:
        base = f"http://127.0.0.1:{daemon.port}"
        response = daemon.get("/feed.atom")
        assert response.headers["link"] == f'<{hub.url}>; rel="hub", <{base}/feed.atom>; rel="self"'
        links = {link.rel: link.href for link in feedparser.parse(response.body).feed.links}
        assert links["hub"] == hub.url and links["self"] == f"{base}/feed.atom"
        assert json.loads(daemon.get("/feed.json").body)["hubs"] == [
            {"type": "WebSub", "url": hub.url}
        ]
        rss = lxml.etree.fromstring(daemon.get("/feed.rss").body)
        assert hub.url in {e.get("href") for e in rss.iter("{http://www.w3.org/2005/Atom}link")}

        wait_for(lambda: len(hub.topics()) == 9, what="the startup pings: 3 feeds, 2 sources")
        hub.pings.clear()
        for n in range(20):  # a burst, one source
            (seeds / "2021-01" / f"new{n}.txt").write_text(
                article(f"New {n}", day="2021-01-30", source="TASS")
            )
        wait_for(lambda: "New 19" in daemon.titles(), what="the burst published")
        main = {f"{base}{path}" for path in ("/feed.atom", "/feed.rss", "/feed.json")}
        tass = {f"{base}/sources/TASS{suffix}" for suffix in (".atom", ".rss", ".json")}
        wait_for(lambda: hub.topics() >= main | tass, what="pings for the changed feeds")
        assert not any("Meridian" in topic for topic in hub.topics())
        assert all(ping["hub.mode"] == ["publish"] for ping in hub.pings)
        # Coalesced: far fewer pings than updates (each topic once or twice, not 20 times).
        assert len(hub.pings) <= 2 * len(main | tass)


def test_with_a_static_copy_hubs_are_pinged_once_it_holds_the_new_feed(
    seeds: Path, hub: RecordingHub, tmp_path: Path
) -> None:
    """Subscribers fetch from the copy (nginx, a CDN): a ping sent before the copy has the
    new feed would send them to the old one."""
    public = tmp_path / "public"
    seen: list[bytes] = []
    hub.on_ping = lambda ping: seen.append((public / "feed.atom").read_bytes())
    args = ("--max-entries", "4", "--publish", str(public), "--hubs", hub.url)
    with running_daemon(seeds, *args):
        wait_for(lambda: len(hub.topics()) == 9, what="the startup pings")
        seen.clear()
        (seeds / "2021-01" / "new.txt").write_text(article("Brand new", day="2021-01-30"))
        wait_for(lambda: seen, what="a ping for the new article")
        assert b"Brand new" in seen[0]
