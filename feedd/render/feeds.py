"""Atom 1.0 and RSS 2.0 (through feedgen) and JSON Feed 1.1 documents from a list of articles.

Every timestamp is set from the articles, never from the clock, so rebuilding the same folder
gives the same bytes, and so the same ETag.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedd import __version__, urls
from feedd.config import Settings
from feedd.parse.article import Article
from feedd.render.language import of_article

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUMMARY_CHARS = 600
_ATOM_NS = "http://www.w3.org/2005/Atom"
_HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
_DC_NS = "http://purl.org/dc/elements/1.1/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True, slots=True)
class FeedHead:
    """What a feed document says of itself besides its entries: the main feeds, a source's
    feeds and archive pages differ only in this. Hashable: skeletons are cached by it.

    `links` are (relation, URL path) pairs, for documents of the same format: `prev-archive`,
    `next-archive` and `current` (RFC 5005); JSON Feed states `prev-archive` as `next_url`.
    """

    self_path: str
    title: str = ""  # empty: the site's title
    links: tuple[tuple[str, str], ...] = ()
    hubs: tuple[str, ...] = ()  # WebSub hubs, absolute URLs
    archive: bool = False  # an RFC 5005 archive document (marked fh:archive)
    id_suffix: str = ""  # a source's feeds are feeds of their own, with their own id


class _History(BaseExtension):  # type: ignore[misc]
    """What feedgen cannot write itself: RFC 5005's fh:archive, and in RSS the atom:link
    elements for hubs and archives (feedgen's RSS writes only the self link)."""

    _head = FeedHead("")
    _settings: Settings

    def configure(self, head: FeedHead, settings: Settings) -> None:
        self._head, self._settings = head, settings

    def extend_ns(self) -> dict[str, str]:
        return {"fh": _HISTORY_NS} if self._head.archive else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self._head.archive:
            etree.SubElement(feed, f"{{{_HISTORY_NS}}}archive")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        for rel, href in _links(self._head, self._settings):
            etree.SubElement(channel, f"{{{_ATOM_NS}}}link", href=href, rel=rel)
        if self._head.archive:
            etree.SubElement(channel, f"{{{_HISTORY_NS}}}archive")
        return feed


def _links(head: FeedHead, settings: Settings) -> list[tuple[str, str]]:
    """(relation, absolute URL) of a document's links besides self and alternate."""
    found = [("hub", hub) for hub in head.hubs]
    return found + [(rel, urls.absolute(settings, path)) for rel, path in head.links]


def feed_id(settings: Settings, suffix: str = "") -> str:
    """The feed's id: the site's host and path without the scheme, so a move to https keeps it.
    Archive pages share the id of the feed they continue (they are the same feed)."""
    parts = urlsplit(settings.site_url)
    return f"tag:feedd.invalid,2021:site:{parts.netloc}{parts.path}{suffix}"


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


MAIN_ATOM, MAIN_RSS, MAIN_JSON = FeedHead(urls.ATOM), FeedHead(urls.RSS), FeedHead(urls.JSON)


def atom(articles: Sequence[Article], settings: Settings, head: FeedHead = MAIN_ATOM) -> bytes:
    entries = [atom_entry(a, settings) for a in articles]
    return atom_document(entries, last_updated(articles), settings, head)


def rss(articles: Sequence[Article], settings: Settings, head: FeedHead = MAIN_RSS) -> bytes:
    items = [rss_item(a, settings) for a in articles]
    return rss_document(items, last_updated(articles), settings, head)


# Feeds are assembled from entries serialized one by one (feedgen's `FeedEntry.atom_entry()`
# and `rss_entry()`), so that an update re-renders only the articles that changed.


def atom_entry(article: Article, settings: Settings) -> bytes:
    """The `<entry>` of `article`."""
    return _atom_xml(_feed_entry(article, settings), article, settings)


def rss_item(article: Article, settings: Settings) -> bytes:
    """The `<item>` of `article`."""
    return _rss_xml(_feed_entry(article, settings).rss_entry())


def entry_fragments(article: Article, settings: Settings) -> tuple[bytes, bytes]:
    """`atom_entry` and `rss_item` from one feedgen entry."""
    entry = _feed_entry(article, settings)
    return _atom_xml(entry, article, settings), _rss_xml(entry.rss_entry())


def _atom_xml(entry: FeedEntry, article: Article, settings: Settings) -> bytes:
    element = entry.atom_entry()
    language = _entry_language(article, settings)
    if language is not None:  # (feedgen has no entry-level language for Atom)
        element.set(_XML_LANG, language)
    return _xml(element)


def _entry_language(article: Article, settings: Settings) -> str | None:
    """The article's language where it is not the site's, for readers that choose a font, a
    direction or a translation by it."""
    language = of_article(article, settings.language).lang
    return None if language == settings.language else language


def _xml(element: etree._Element) -> bytes:
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False, pretty_print=True)


# An item alone would name its namespaces `ns0`, `ns1`; readers that look for `content:encoded`
# and `dc:creator` by name (not by namespace) would miss them.
_RSS_PREFIXES = {"content": "http://purl.org/rss/1.0/modules/content/", "dc": _DC_NS}


def _rss_xml(item: etree._Element) -> bytes:
    etree.cleanup_namespaces(item, top_nsmap=_RSS_PREFIXES)
    return _xml(item)


def atom_document(
    entries: Sequence[bytes], updated: datetime, settings: Settings, head: FeedHead = MAIN_ATOM
) -> bytes:
    start, end = _atom_skeleton(settings, updated, head)
    return start + b"".join(entries) + end


def rss_document(
    items: Sequence[bytes], updated: datetime, settings: Settings, head: FeedHead = MAIN_RSS
) -> bytes:
    start, end = _rss_skeleton(settings, updated, head)
    return start + b"".join(items) + end


# A few skeletons are asked for again and again while fitting a feed to max_feed_bytes.
@functools.lru_cache(maxsize=32)
def _atom_skeleton(settings: Settings, updated: datetime, head: FeedHead) -> tuple[bytes, bytes]:
    skeleton = _generator(settings, head, updated).atom_str(pretty=True)
    start, end, tail = skeleton.rpartition(b"</feed>")
    return start, end + tail  # fh:archive, if any, ends the head: before the entries


@functools.lru_cache(maxsize=32)
def _rss_skeleton(settings: Settings, updated: datetime, head: FeedHead) -> tuple[bytes, bytes]:
    skeleton = _rss_generator(settings, head, updated).rss_str(pretty=True)
    start, end, tail = skeleton.rpartition(b"</channel>")
    return start, end + tail


def _rss_generator(settings: Settings, head: FeedHead, updated: datetime) -> FeedGenerator:
    fg = _generator(settings, head, updated)
    # RSS readers take the channel description for HTML (Atom's subtitle is marked as text).
    fg.description(html.escape(settings.description, quote=False))
    return fg


def _generator(settings: Settings, head: FeedHead, updated: datetime) -> FeedGenerator:
    """A feed without entries: what a document says of itself."""
    fg = FeedGenerator()
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    if head.archive or head.links or head.hubs:
        fg.register_extension("history", _History, BaseEntryExtension)
        fg.history.configure(head, settings)
    fg.id(feed_id(settings, head.id_suffix))
    fg.title(head.title or settings.title)
    fg.subtitle(settings.description)
    fg.author({"name": settings.author})
    for rel, href in _links(head, settings):
        fg.link(href=href, rel=rel)
    # feedgen makes the last link RSS's channel <link>, which must be the site, not the feed.
    fg.link(href=urls.absolute(settings, head.self_path), rel="self")
    fg.link(href=settings.site_url, rel="alternate", type="text/html")
    fg.language(settings.language)
    fg.generator("feedd", __version__)
    fg.updated(instant(updated))
    return fg


def _feed_entry(article: Article, settings: Settings) -> FeedEntry:
    entry = FeedEntry()
    entry.register_extension("dc", DcEntryExtension, atom=False, rss=True)
    entry.id(article.id)
    entry.title(article.title)
    entry.link(
        href=urls.absolute(settings, urls.article_path(article.path)),
        rel="alternate",
        type="text/html",
    )
    entry.published(instant(article.published))
    entry.updated(instant(article.updated))
    # Every entry names its author: most readers do not inherit the feed's.
    author = article.author or settings.author
    if author:
        entry.author({"name": author})
        entry.dc.dc_creator(author)  # RSS's own <author> must be an e-mail address
    if article.source:
        entry.category(term=article.source)
    language = _entry_language(article, settings)
    if language is not None:
        entry.dc.dc_language(language)  # RSS items have no language of their own
    entry.summary(html.escape(summary_text(article), quote=False), type="html")
    entry.content(content_html(article, settings), type="html")
    return entry


def json_feed(articles: Sequence[Article], settings: Settings, head: FeedHead = MAIN_JSON) -> bytes:
    return json_document([json_item(a, settings) for a in articles], settings, head)


def json_item(article: Article, settings: Settings) -> bytes:
    return _json(_json_item(article, settings))


def json_document(items: Sequence[bytes], settings: Settings, head: FeedHead = MAIN_JSON) -> bytes:
    """The JSON Feed with `items` (from `json_item`), `items` being its last member."""
    start = _json_head(settings, head)
    return start + b",".join(items) + b"]}"


@functools.lru_cache(maxsize=32)
def _json_head(settings: Settings, head: FeedHead) -> bytes:
    document: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": head.title or settings.title,
        "description": settings.description,
        "home_page_url": settings.site_url,
        "feed_url": urls.absolute(settings, head.self_path),
    }
    older = dict(head.links).get("prev-archive")
    if older is not None:
        document["next_url"] = urls.absolute(settings, older)
    if head.hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in head.hubs]
    document |= {
        "language": settings.language,
        "authors": [{"name": settings.author}],
        "items": [],
    }
    return _json(document)[: -len(b"]}")]


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
    author = article.author or settings.author
    if author:
        # `author` is JSON Feed 1.0's, which 1.1 says to keep for the readers that know only it.
        item["authors"] = [{"name": author}]
        item["author"] = {"name": author}
    if article.source:
        item["tags"] = [article.source]
    language = _entry_language(article, settings)
    if language is not None:
        item["language"] = language
    return item
