"""Atom 1.0 and RSS 2.0 (through feedgen) and JSON Feed 1.1 documents from a list of articles.

Every timestamp is set from the articles, never from the clock, so rebuilding the same folder
gives the same bytes, and so the same ETag.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

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


def instant(when: datetime) -> datetime:
    """`when` as feeds can state it: RFC 3339 and RFC 822 offsets are whole minutes, so a zone's
    historical offset in seconds (local mean time, before about 1900) is stated in UTC."""
    offset = when.utcoffset()
    if offset is None or offset % timedelta(minutes=1) == timedelta(0):
        return when
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return when.replace(tzinfo=UTC)


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


def fit(
    render: Callable[[Sequence[Article]], bytes], articles: Sequence[Article], limit: int
) -> bytes:
    """Render as many of the newest `articles` as fit in `limit` bytes (fewer rather than a
    document readers refuse)."""
    count = len(articles)
    while True:
        document = render(articles[:count])
        if len(document) <= limit or count == 0:
            return document
        count = min(count - 1, int(count * limit / len(document) * 0.95))
        count = max(count, 0)


def atom(articles: Sequence[Article], settings: Settings) -> bytes:
    return _generator(articles, settings, urls.ATOM).atom_str(pretty=True)  # type: ignore[no-any-return]


def rss(articles: Sequence[Article], settings: Settings) -> bytes:
    fg = _generator(articles, settings, urls.RSS)
    # RSS readers take the channel description for HTML (Atom's subtitle is marked as text).
    fg.description(html.escape(settings.description, quote=False))
    return fg.rss_str(pretty=True)  # type: ignore[no-any-return]


def _generator(articles: Sequence[Article], settings: Settings, self_path: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(feed_id(settings))
    fg.title(settings.title)
    fg.subtitle(settings.description)
    fg.author({"name": settings.author})
    # feedgen makes the last link RSS's channel <link>, which must be the site, not the feed.
    fg.link(href=urls.absolute(settings, self_path), rel="self")
    fg.link(href=settings.site_url, rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator("feedd", __version__)
    fg.updated(instant(last_updated(articles)))
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
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": settings.title,
        "description": settings.description,
        "home_page_url": settings.site_url,
        "feed_url": urls.absolute(settings, urls.JSON),
        "language": settings.language,
        "authors": [{"name": settings.author}],
        "items": [_json_item(article, settings) for article in articles],
    }
    return json.dumps(feed, ensure_ascii=False, indent=1).encode()


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
