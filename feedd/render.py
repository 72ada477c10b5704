"""Articles in, a `Site` out: feeds and index built, compressed and tagged before they are served.

The `Renderer` keeps each entry's serialized forms, so an update re-renders only the articles
that changed, and only when the newest articles changed at all. Article pages are built on
demand by a `PageRenderer` (`feedd serve`) or all at once (`render_site`, `feedd build`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

from feedd import feeds, pages, site, urls
from feedd.article import Article
from feedd.config import Settings
from feedd.library import Entry, Library
from feedd.site import Resource, Site, make_resource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Fragments:
    article: Article
    atom: bytes
    rss: bytes
    json: bytes
    index: Markup


class Renderer:
    """Renders the documents of one `Settings`; owned by one thread."""

    def __init__(
        self,
        settings: Settings,
        compressor: Executor | None = None,
        served: dict[str, Resource] | None = None,
    ) -> None:
        """`compressor`, when given, gzips the documents side by side (zlib lets go of the GIL);
        `served` is what an earlier renderer served, so Last-Modified goes on moving forward."""
        self.settings = settings
        self._compressor = compressor
        self._fragments: dict[str, _Fragments] = {}
        self._last: tuple[tuple[Article, ...], dict[str, Resource]] | None = None
        self.served: dict[str, Resource] = served if served is not None else {}

    def site(self, library: Library) -> Site:
        """The site for the library as it is now, article pages to be built on demand."""
        return Site.create(
            self.documents(library.newest()),
            articles=len(library.entries),
            rejected=len(library.rejected),
            updated=library.last_updated(),
            pages=library.pages,
        )

    def documents(self, newest: Sequence[Article]) -> dict[str, Resource]:
        """The index and the three feeds for `newest` (newest first), reused when unchanged."""
        key = tuple(newest)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        fragments = [self._fragments_of(article) for article in newest]
        self._fragments = {f.article.path: f for f in fragments}
        settings = self.settings
        updated = feeds.last_updated(newest) if newest else None

        # Each feed: its type, its entries' fragments, and how n of them make a document.
        feed_kinds: dict[str, tuple[str, list[bytes], Callable[[list[bytes], int], bytes]]] = {
            urls.ATOM: (
                site.ATOM,
                [f.atom for f in fragments],
                lambda parts, n: feeds.atom_document(
                    parts, feeds.last_updated(newest[:n]), settings
                ),
            ),
            urls.RSS: (
                site.RSS,
                [f.rss for f in fragments],
                lambda parts, n: feeds.rss_document(
                    parts, feeds.last_updated(newest[:n]), settings
                ),
            ),
            urls.JSON: (
                site.JSON_FEED,
                [f.json for f in fragments],
                lambda parts, n: feeds.json_document(parts, settings),
            ),
        }
        bodies = {
            urls.INDEX: (pages.index_document([f.index for f in fragments], settings), site.HTML)
        }
        for path, (kind, parts, document) in feed_kinds.items():
            assemble = functools.partial(_assemble, parts, document)
            bodies[path] = _fit(parts, assemble, settings.max_feed_bytes), kind
        plain = [body for body, _ in bodies.values()]
        compressed = (
            self._compressor.map(site.gzip_bytes, plain)
            if self._compressor
            else map(site.gzip_bytes, plain)
        )
        documents = {
            path: make_resource(body, kind, updated, gzipped)
            for (path, (body, kind)), gzipped in zip(bodies.items(), compressed, strict=True)
        }
        documents = {path: self._advanced(path, resource) for path, resource in documents.items()}
        self._last = key, documents
        return documents

    def _advanced(self, path: str, resource: Resource) -> Resource:
        """`resource`, its Last-Modified moved past the one served before if its bytes changed.

        Last-Modified is the newest entry's `updated`, but the bytes also change when an older
        article is added (`cp -p`), edited in the same second, or deleted; a reader that asks
        If-Modified-Since (libcurl discards a 200 that is not newer) would miss those.
        """
        before = self.served.get(path)
        if before is not None and before.etag == resource.etag:
            resource = before
        elif before is not None and before.last_modified and resource.last_modified:
            floor = before.last_modified.replace(microsecond=0) + timedelta(seconds=1)
            if resource.last_modified.replace(microsecond=0) < floor:
                resource = dataclasses.replace(resource, last_modified=floor)
        # Never later than now (RFC 9110 8.8.2.1), whatever date an article claims.
        now = datetime.now(UTC).replace(microsecond=0)
        if resource.last_modified is not None and resource.last_modified > now:
            resource = dataclasses.replace(resource, last_modified=now)
        self.served[path] = resource
        return resource

    def _fragments_of(self, article: Article) -> _Fragments:
        cached = self._fragments.get(article.path)
        if cached is not None and cached.article == article:
            return cached
        settings = self.settings
        return _Fragments(
            article,
            feeds.atom_entry(article, settings),
            feeds.rss_item(article, settings),
            feeds.json_item(article, settings),
            pages.index_item(article, settings),
        )


def _assemble(
    parts: list[bytes], document: Callable[[list[bytes], int], bytes], count: int
) -> bytes:
    return document(parts[:count], count)


def _fit(parts: list[bytes], assemble: Callable[[int], bytes], limit: int) -> bytes:
    """The document with as many of `parts` as fit in `limit` bytes: fewer entries rather than
    a document readers refuse."""
    total = len(assemble(0))
    count = 0
    for part in parts:
        total += len(part) + 1  # +1: a JSON comma
        if total > limit:
            break
        count += 1
    document = assemble(count)
    while len(document) > limit and count > 0:
        count -= 1
        document = assemble(count)
    return document


def article_resource(article: Article, settings: Settings) -> Resource:
    """The page of `article`, ready to send."""
    return make_resource(pages.article_page(article, settings), site.HTML, article.updated)


class PageRenderer:
    """Builds an article's page from its entry, reading the article with `load` (None: gone)."""

    def __init__(self, settings: Settings, load: Callable[[Entry], Article | None]) -> None:
        self.settings = settings
        self._load = load

    def __call__(self, entry: Entry) -> Resource | None:
        article = self._load(entry)
        if article is None:
            return None
        return article_resource(article, self.settings)


def render_site(
    articles: Mapping[str, Article],
    rejected: int,
    settings: Settings,
    previous: Site | None = None,
    changed: Collection[str] = (),
) -> Site:
    """The whole site for `articles` (keyed by relative path), every page built.

    With the `previous` site (rendered with the same settings) and the paths `changed` since,
    pages that did not change are reused rather than rendered again.
    """
    ordered = feeds.newest_first(list(articles.values()))
    resources = dict(Renderer(settings).documents(ordered[: settings.max_entries]))
    for article in ordered:
        path = urls.article_path(article.path)
        if path in resources:
            # Only with `include` patterns beyond *.txt: `x` and `x.txt` share `x.html`.
            log.warning(
                "%s is not published as a page: a newer article has its address %s",
                article.path,
                path,
            )
            continue
        reusable = (
            previous.resources.get(path) if previous and article.path not in changed else None
        )
        resources[path] = reusable or article_resource(article, settings)
    return Site.create(
        resources,
        articles=len(ordered),
        rejected=rejected,
        updated=feeds.last_updated(ordered) if ordered else None,
    )
