"""Atom 1.0 and RSS 2.0 (through feedgen) and JSON Feed 1.1 documents from a list of articles.

Every timestamp is set from the articles, never from the clock, so rebuilding the same folder
gives the same bytes, and so the same ETag.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedgen.feed  # first: it imports lxml.etree, which feedgen.util uses without importing
from feedgen.ext.dc import DcEntryExtension, DcExtension

from feedd import __version__, urls
from feedd.article import Article
from feedd.config import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUMMARY_CHARS = 600


def feed_id(settings: Settings) -> str:
    """The feed's id: the site's host and path without the scheme, so a move to https keeps it."""
    parts = urlsplit(settings.site_url)
    return f"tag:feedd.invalid,2021:site:{parts.netloc}{parts.path}"


def newest_first(articles: Sequence[Article]) -> list[Article]:
    return sorted(articles, key=lambda a: (a.published, a.updated, a.path), reverse=True)


def last_updated(articles: Sequence[Article]) -> datetime:
    return max((a.updated for a in articles), default=_EPOCH)


def summary_text(article: Article) -> str:
    """The first paragraph, cut at a word near `_SUMMARY_CHARS` when it is longer."""
    text = article.summary
    if len(text) <= _SUMMARY_CHARS:
        return text
    return text[:_SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"


class _FeedTime(datetime):
    """A datetime whose `strftime` writes the year in four digits: feedgen writes RSS dates
    with `%Y`, which glibc writes as `1` for the year 1, and readers take `1` for 2001."""

    __slots__ = ()

    def strftime(self, format: str) -> str:
        return super().strftime(format.replace("%Y", f"{self.year:04d}"))


def instant(when: datetime) -> datetime:
    """`when` as feeds can state it: RFC 3339 and RFC 822 offsets are whole minutes, so a zone's
    historical offset in seconds (local mean time, before about 1900) is stated in UTC; and its
    year is written in four digits (`_FeedTime`)."""
    offset = when.utcoffset()
    if offset is not None and offset % timedelta(minutes=1) != timedelta(0):
        try:
            when = when.astimezone(UTC)
        except OverflowError:
            when = when.replace(tzinfo=UTC)
    return _FeedTime.combine(when.date(), when.timetz())


def content_html(article: Article, settings: Settings) -> str:
    """The article's paragraphs as escaped HTML, cut with a link to the page past a quarter
    of `max_feed_bytes`, so one huge article cannot push every other one out of the feed."""
    budget = settings.max_feed_bytes // 4
    parts: list[str] = []
    used = 0
    for paragraph in article.paragraphs:
        part = f"<p>{html.escape(paragraph, quote=False)}</p>"
        used += len(part.encode()) * 2  # feeds escape the HTML once more
        if used > budget:
            link = html.escape(urls.absolute(settings, urls.article_path(article.path)))
            parts.append(f'<p><a href="{link}">Read the whole article.</a></p>')
            break
        parts.append(part)
    return "\n".join(parts)


def atom(articles: Sequence[Article], settings: Settings) -> bytes:
    return atom_document(
        [atom_entry(a, settings) for a in articles], last_updated(articles), settings
    )


def rss(articles: Sequence[Article], settings: Settings) -> bytes:
    return rss_document([rss_item(a, settings) for a in articles], last_updated(articles), settings)


# Feeds are assembled from entries serialized one by one, so that an update re-renders only the
# articles that changed. feedgen pretty-prints each entry the same way whatever surrounds it, so
# the result is byte for byte what feedgen would write for the whole list (tests check this).


def atom_entry(article: Article, settings: Settings) -> bytes:
    """The `<entry>` of `article`, as feedgen serializes it inside a feed."""
    document = _generator([article], settings, urls.ATOM, article.updated).atom_str(pretty=True)
    return _between(document, b"  <entry>", b"  </entry>\n")


def rss_item(article: Article, settings: Settings) -> bytes:
    """The `<item>` of `article`, as feedgen serializes it inside a channel."""
    document = _rss_generator([article], settings, article.updated).rss_str(pretty=True)
    return _between(document, b"    <item>", b"    </item>\n")


def atom_document(entries: Sequence[bytes], updated: datetime, settings: Settings) -> bytes:
    head, tail = _atom_skeleton(settings, updated)
    return head + b"".join(entries) + tail


def rss_document(items: Sequence[bytes], updated: datetime, settings: Settings) -> bytes:
    head, tail = _rss_skeleton(settings, updated)
    return head + b"".join(items) + tail


# A few skeletons are asked for again and again while fitting a feed to max_feed_bytes.
@functools.lru_cache(maxsize=8)
def _atom_skeleton(settings: Settings, updated: datetime) -> tuple[bytes, bytes]:
    skeleton = _generator([], settings, urls.ATOM, updated).atom_str(pretty=True)
    head, end, tail = skeleton.rpartition(b"</feed>")
    return head, end + tail


@functools.lru_cache(maxsize=8)
def _rss_skeleton(settings: Settings, updated: datetime) -> tuple[bytes, bytes]:
    skeleton = _rss_generator([], settings, updated).rss_str(pretty=True)
    head, end, tail = skeleton.rpartition(b"  </channel>")
    return head, end + tail


def _between(document: bytes, start: bytes, end: bytes) -> bytes:
    return document[document.index(start) : document.rindex(end) + len(end)]


def _rss_generator(
    articles: Sequence[Article], settings: Settings, updated: datetime
) -> feedgen.feed.FeedGenerator:
    fg = _generator(articles, settings, urls.RSS, updated)
    # RSS readers take the channel description for HTML (Atom's subtitle is marked as text).
    fg.description(html.escape(settings.description, quote=False))
    return fg


def _generator(
    articles: Sequence[Article], settings: Settings, self_path: str, updated: datetime
) -> feedgen.feed.FeedGenerator:
    fg = feedgen.feed.FeedGenerator()
    # register_extension, not load_extension: the latter searches the disk for a module that
    # does not exist (feedgen.ext.dc_entry) every time, a third of the cost of a small feed.
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    fg.id(feed_id(settings))
    fg.title(settings.title)
    fg.subtitle(settings.description)
    fg.author({"name": settings.author})
    # feedgen makes the last link RSS's channel <link>, which must be the site, not the feed.
    fg.link(href=urls.absolute(settings, self_path), rel="self")
    fg.link(href=settings.site_url, rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator("feedd", __version__)
    fg.updated(instant(updated))
    for article in articles:
        entry = fg.add_entry(order="append")
        entry.id(article.id)
        entry.title(article.title)
        entry.link(
            href=urls.absolute(settings, urls.article_path(article.path)),
            rel="alternate",
            type="text/html",
        )
        entry.published(instant(article.published))
        entry.updated(instant(article.updated))
        if article.author:
            entry.author({"name": article.author})
            entry.dc.dc_creator(article.author)
        if article.source:
            entry.category(term=article.source)
        entry.summary(html.escape(summary_text(article), quote=False), type="html")
        entry.content(content_html(article, settings), type="html")
    return fg


def json_feed(articles: Sequence[Article], settings: Settings) -> bytes:
    return json_document([json_item(a, settings) for a in articles], settings)


def json_item(article: Article, settings: Settings) -> bytes:
    return _json(_json_item(article, settings))


def json_document(items: Sequence[bytes], settings: Settings) -> bytes:
    """The JSON Feed with `items` (from `json_item`), `items` being its last member."""
    head = _json(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": settings.title,
            "description": settings.description,
            "home_page_url": settings.site_url,
            "feed_url": urls.absolute(settings, urls.JSON),
            "language": settings.language,
            "authors": [{"name": settings.author}],
            "items": [],
        }
    )
    return head[: -len(b"]}")] + b",".join(items) + b"]}"


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_item(article: Article, settings: Settings) -> dict[str, object]:
    item: dict[str, object] = {
        "id": article.id,
        "url": urls.absolute(settings, urls.article_path(article.path)),
        "title": article.title,
        "content_html": content_html(article, settings),
        "summary": summary_text(article),
        "date_published": instant(article.published).isoformat(),
        "date_modified": instant(article.updated).isoformat(),
    }
    if article.author:
        item["authors"] = [{"name": article.author}]
    if article.source:
        item["tags"] = [article.source]
    return item
