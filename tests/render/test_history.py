"""Complete history (RFC 5005), per-source feeds and the OPML list, read the way readers read
them: starting from the main feeds and following links."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.etree
from helpers import make_article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedd import urls
from feedd.config import Settings
from feedd.parse.article import Article
from feedd.render.site import Site
from feedd.render.whole import render_site

SETTINGS = Settings(base_url="https://news.example/", max_entries=4)
HISTORY = "{http://purl.org/syndication/history/1.0}archive"


def story(n: int, published: datetime, source: str | None = "Wire") -> Article:
    """Article number `n`, `a{n}.txt`."""
    return make_article(
        f"a{n}.txt", f"Story {n}", published=published, source=source, paragraphs=(f"Body {n}.",)
    )


def path_of(url: str) -> str:
    return urlsplit(url).path


def walk(site: Site, start: str) -> tuple[list[str], list[str]]:
    """Follow prev-archive (next_url in JSON) from `start`: the ids of every entry seen, and
    the documents visited."""
    ids: list[str] = []
    visited: list[str] = []
    path: str | None = start
    while path is not None:
        assert path not in visited, f"a loop at {path}"
        visited.append(path)
        resource = site.resources[path]
        if path.endswith(".json"):
            document = json.loads(resource.body)
            ids += [item["id"] for item in document["items"]]
            path = path_of(document["next_url"]) if "next_url" in document else None
            continue
        parsed = feedparser.parse(resource.body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        ids += [entry.id for entry in parsed.entries]
        root = lxml.etree.fromstring(resource.body)
        assert (root.find(f".//{HISTORY}") is not None) == path.startswith(urls.ARCHIVE)
        older = [link.get("href") for link in root.iter() if link.get("rel") == "prev-archive"]
        path = path_of(older[0]) if older else None
    return ids, visited


def test_a_reader_following_archive_links_gets_every_article_once() -> None:
    start = datetime(2020, 11, 28, 12, tzinfo=UTC)
    articles = [story(n, start + timedelta(days=n * 2)) for n in range(30)]  # Nov to Jan
    site = render_site({a.path: a for a in articles}, 0, SETTINGS)
    for main in (urls.ATOM, urls.RSS, urls.JSON):
        ids, visited = walk(site, main)
        assert sorted(ids) == sorted(a.id for a in articles), main
        assert len(visited) > 4
    # Pages link forward too, and back to the feed they continue.
    newest = feedparser.parse(site.resources["/archive/2021-01.atom"].body)
    rels = {link.rel: path_of(link.href) for link in newest.feed.links}
    assert rels["current"] == urls.ATOM and rels["prev-archive"] == "/archive/2020-12-4.atom"
    oldest = feedparser.parse(site.resources["/archive/2020-11.atom"].body)
    assert {link.rel for link in oldest.feed.links} >= {"next-archive", "current"}
    assert "prev-archive" not in {link.rel for link in oldest.feed.links}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2022, 1, 1)),
        max_size=25,
    ),
    st.integers(1, 6),
)
def test_any_dates_any_size(dates: list[datetime], size: int) -> None:
    articles = [story(n, d.replace(tzinfo=UTC)) for n, d in enumerate(dates)]
    site = render_site(
        {a.path: a for a in articles}, 0, Settings(base_url=SETTINGS.base_url, max_entries=size)
    )
    for main in (urls.ATOM, urls.JSON):
        ids, _ = walk(site, main)
        assert sorted(ids) == sorted(a.id for a in articles)


def test_each_source_has_feeds_and_the_opml_lists_them_all() -> None:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    sources = ["TASS", "UrduPoint.com", "Meridian Wire", "اردو <&> خبریں", None]
    articles = [story(n, start + timedelta(hours=n), sources[n % len(sources)]) for n in range(23)]
    site = render_site({a.path: a for a in articles}, 0, SETTINGS)
    opml = lxml.etree.fromstring(site.resources[urls.OPML].body)
    feeds = {unquote(path_of(o.get("xmlUrl"))) for o in opml.iter("outline") if o.get("xmlUrl")}
    assert feeds == {urls.ATOM} | {urls.source_path(s, ".atom") for s in sources if s}
    for source in sources[:-1]:
        assert source is not None
        mine = sorted(
            (a for a in articles if a.source == source), key=lambda a: a.published, reverse=True
        )
        for suffix in urls.FEED_SUFFIXES:
            path = urls.source_path(source, suffix)
            body = site.resources[path].body
            if suffix == ".json":
                document = json.loads(body)
                assert [i["id"] for i in document["items"]] == [a.id for a in mine[:4]]
                assert source in document["title"]
                continue
            parsed = feedparser.parse(body)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert [e.id for e in parsed.entries] == [a.id for a in mine[:4]]
            assert parsed.feed.title == f"{SETTINGS.title}: {source}"
            if suffix == ".atom":  # a feed of its own, not a copy of the main one
                main = feedparser.parse(site.resources[urls.ATOM].body)
                assert parsed.feed.id != main.feed.id


def test_feeds_cut_to_max_feed_bytes_hand_the_rest_to_the_archive() -> None:
    """A main feed cut short by max_feed_bytes carries fewer than max_entries: the archive
    starts below what every feed carried, so nothing falls between them."""
    start = datetime(2021, 1, 1, tzinfo=UTC)
    articles = [
        dataclasses.replace(story(n, start + timedelta(hours=n)), paragraphs=("x" * 900,))
        for n in range(12)
    ]
    settings = Settings(base_url=SETTINGS.base_url, max_entries=5, max_feed_bytes=8000)
    site = render_site({a.path: a for a in articles}, 0, settings)
    carried = feedparser.parse(site.resources[urls.ATOM].body).entries
    assert 0 < len(carried) < 5, "the feed was not cut: the test needs bigger articles"
    for main in (urls.ATOM, urls.RSS, urls.JSON):
        ids, _ = walk(site, main)
        assert set(ids) == {a.id for a in articles}, main


def test_source_slugs_are_unique_safe_file_names() -> None:
    names = ["TASS", "Meridian Wire", "Meridian-Wire-863b98a7", "x" * 300, ".hidden", "a/b", ""]
    slugs = [urls.source_slug(name) for name in names]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert slug and "/" not in slug and not slug.startswith(".")
        assert len(f"{slug}.atom.gz".encode()) <= 255
    assert urls.source_slug("TASS") == "TASS"
