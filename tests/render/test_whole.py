"""The rendered `Site` as a whole: content types, compression, validators, reuse, the seeds."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime, timedelta

import feedparser
import lxml.html
import pytest
from helpers import SEEDS, make_article
from hypothesis import given
from hypothesis import strategies as st

from feedd import urls
from feedd.config import Settings
from feedd.library.library import Library
from feedd.parse.article import Article
from feedd.render.site import Site
from feedd.render.whole import render_site

SETTINGS = Settings(base_url="https://news.example/")


def dated_article(path: str, day: int = 1, text: str = "Body.") -> Article:
    """An article published on the `day`th of January 2021, updated `day` minutes later."""
    published = datetime(2021, 1, day, 8, tzinfo=UTC)
    return make_article(
        path,
        f"Title of {path}",
        published=published,
        updated=published + timedelta(minutes=day),
        paragraphs=(text,),
    )


def render(articles: list[Article], **kwargs: object) -> Site:
    return render_site({a.path: a for a in articles}, 2, SETTINGS, **kwargs)  # type: ignore[arg-type]


def test_every_document_and_its_content_type() -> None:
    site = render([dated_article("a.txt"), dated_article("b/c.txt", 2)])
    assert {path: r.content_type for path, r in site.resources.items()} == {
        "/": "text/html; charset=utf-8",
        "/feed.atom": "application/atom+xml; charset=utf-8",
        "/feed.rss": "application/rss+xml; charset=utf-8",
        "/feed.json": "application/feed+json",
        "/articles/a.html": "text/html; charset=utf-8",
        "/articles/b/c.html": "text/html; charset=utf-8",
        "/feeds.opml": "text/x-opml; charset=utf-8",
        "/sources/Wire.atom": "application/atom+xml; charset=utf-8",
        "/sources/Wire.rss": "application/rss+xml; charset=utf-8",
        "/sources/Wire.json": "application/feed+json",
    }
    assert (site.articles, site.rejected) == (2, 2)
    assert site.updated == datetime(2021, 1, 2, 8, 2, tzinfo=UTC)
    with pytest.raises(TypeError):
        site.resources["/x"] = site.resources["/"]  # type: ignore[index]


def test_gzip_bodies_and_etags() -> None:
    site = render([dated_article("a.txt"), dated_article("b.txt", 2)])
    etags = set()
    for path, resource in site.resources.items():
        assert gzip.decompress(resource.gzipped) == resource.body, path
        assert resource.etag != resource.gzip_etag
        for tag in (resource.etag, resource.gzip_etag):
            assert tag.startswith('"') and tag.endswith('"') and '"' not in tag[1:-1]
        etags.update((resource.etag, resource.gzip_etag))
    assert len(etags) == 2 * len(site.resources)  # different bodies, different tags


def test_last_modified_comes_from_the_articles() -> None:
    old, new = dated_article("old.txt", 1), dated_article("new.txt", 5)
    site = render([old, new])
    for path in (urls.INDEX, urls.ATOM, urls.RSS, urls.JSON):
        assert site.resources[path].last_modified == new.updated
    assert site.resources["/articles/old.html"].last_modified == old.updated
    assert render([]).resources[urls.ATOM].last_modified is None


def test_rendering_twice_gives_identical_bytes_and_tags() -> None:
    articles = [dated_article(f"{n}.txt", n) for n in range(1, 9)]
    first, second = render(articles), render(articles[::-1])
    assert first.resources.keys() == second.resources.keys()
    for path, resource in first.resources.items():
        assert second.resources[path] == resource, path


def test_unchanged_pages_are_reused_and_changed_ones_rendered() -> None:
    a, b, c = dated_article("a.txt", 1), dated_article("b.txt", 2), dated_article("c.txt", 3)
    before = render([a, b, c])
    edited = dated_article("b.txt", 2, text="Edited.")
    after = render([a, edited], previous=before, changed={"b.txt", "c.txt"})
    assert after.resources["/articles/a.html"] is before.resources["/articles/a.html"]
    assert b"Edited." in after.resources["/articles/b.html"].body
    assert "/articles/c.html" not in after.resources
    assert after == render([a, edited])


def test_two_files_sharing_a_page_publish_the_newer_and_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(base_url="https://news.example/", include=("*",))
    older, newer = dated_article("x", 1), dated_article("x.txt", 2)
    with caplog.at_level(logging.WARNING, logger="feedd.render.whole"):
        site = render_site({a.path: a for a in (older, newer)}, 0, settings)
    assert b"Title of x.txt" in site.resources["/articles/x.html"].body
    assert "x is not published as a page" in caplog.text


_segment = st.sampled_from(
    ["b", "b.html", "b.html.gz", "B.HTML", "b.html~", "b.txt", "c", "c.txt", "a b", "%"]
)


@given(st.lists(st.lists(_segment, min_size=1, max_size=4).map("/".join), max_size=8))
def test_no_page_is_also_a_folder_of_another(paths: list[str]) -> None:
    """`feedd build` writes each page and its .gz as files: none may be a folder too."""
    pages = {urls.article_path(p) for p in paths if p.endswith(".txt")}
    assert len(pages) == len({p for p in paths if p.endswith(".txt")})
    files = {f.lower() for page in pages for f in (page, page + ".gz")}
    folders = {page.lower().rsplit("/", n)[0] for page in pages for n in range(1, page.count("/"))}
    assert not files & folders


def test_the_sample_articles_make_a_real_site() -> None:
    settings = Settings(seeds=SEEDS, base_url="https://news.example/", timezone="Asia/Karachi")
    library = Library(settings)
    library.scan()
    assert library.rejected == {}
    assert len(library.articles) >= 6
    assert any("/" in path for path in library.articles)
    assert all(not a.warnings for a in library.articles.values())
    site = render_site(library.articles, 0, settings)

    for path in (urls.ATOM, urls.RSS):
        document = feedparser.parse(site.resources[path].body)
        assert not document.bozo
        assert len(document.entries) == len(library.articles)
    items = json.loads(site.resources[urls.JSON].body)["items"]
    assert {item["id"] for item in items} == {a.id for a in library.articles.values()}
    index = lxml.html.document_fromstring(site.resources[urls.INDEX].body)
    assert {a.get("dir") for a in index.iterfind(".//main/article")} == {"ltr", "rtl"}
    for item in library.articles.values():
        assert urls.article_path(item.path) in site.resources
    # One byline without "ago", one article without the repeated headline: parsed all the same.
    assert all(a.author for a in library.articles.values())
