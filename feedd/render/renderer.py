"""Articles in, a `Site` out: feeds and index built, compressed and tagged before they are served.

The `Renderer` keeps each entry's serialized forms, so an update re-renders only the articles
that changed, and only when the newest articles changed at all. Article pages, archive pages
and the sources' feeds are left to be built on demand (`pages.PageRenderer`,
`listings.ListingRenderer`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import immutables
from markupsafe import Markup

from feedd import urls
from feedd.config import Settings
from feedd.library.entries import article_key
from feedd.library.library import Library
from feedd.parse.article import Article
from feedd.render import feeds, opml
from feedd.render.archive import Archive
from feedd.render.feeds import FeedHead
from feedd.render.pages import index_document, index_item
from feedd.render.site import (
    ATOM,
    HTML,
    JSON_FEED,
    OPML,
    RSS,
    Resource,
    Site,
    SourceFeed,
    make_resource,
)


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
        served: dict[str, Resource] | None = None,
    ) -> None:
        """`served` is what an earlier renderer served, so Last-Modified goes on moving
        forward."""
        self.settings = settings
        self._fragments: dict[str, _Fragments] = {}
        self._last: tuple[object, dict[str, Resource], int] | None = None
        self.carried = 0  # how many of the newest articles every main feed carried (last render)
        self._older: str | None = None  # the archive page the main feeds last linked
        self._sources: immutables.Map[str, SourceFeed] = immutables.Map()
        self.served: dict[str, Resource] = served if served is not None else {}

    def site(self, library: Library) -> Site:
        """The site for the library as it is now; article pages, archive pages and the
        sources' feeds to be built on demand."""
        newest = library.newest()
        self._update_sources(library)
        names = sorted(feed.name for feed in self._sources.values())
        # The archive starts below the oldest article every main feed carried (a feed cut to
        # max_feed_bytes carries fewer than max_entries), and the feeds link its newest page:
        # each depends on the other, so settle them, starting from last time's page.
        older = self._older
        for _ in range(3):
            resources = self.documents(newest, older, names)
            carried = newest[: self.carried]
            archive = Archive(
                library.archived(article_key(carried[-1]) if carried else None),
                self.settings.max_entries,
            )
            page = archive.newest()
            if (page.name if page else None) == older:
                break
            older = page.name if page else None
        self._older = older
        return Site.create(
            resources,
            articles=len(library.entries),
            rejected=len(library.rejected),
            updated=library.last_updated(),
            pages=library.pages,
            archive=archive,
            sources=self._sources,
            checked=not library.unchecked,
        )

    def _update_sources(self, library: Library) -> None:
        """List again the newest entries of each source an update touched, and only those."""
        touched = library.take_touched_sources()
        if not touched:
            return
        edit = self._sources.mutate()
        for source in touched:
            slug = urls.source_slug(source)
            entries = library.newest_of(source)
            if entries:
                edit[slug] = SourceFeed(source, entries)
            elif slug in edit:
                del edit[slug]
        self._sources = edit.finish()

    def documents(
        self, newest: Sequence[Article], older: str | None = None, sources: Sequence[str] = ()
    ) -> dict[str, Resource]:
        """The index, the three feeds for `newest` (newest first) and the list of feeds,
        reused when unchanged. `older` names the newest archive page, `sources` the sources
        that have feeds."""
        key = (tuple(newest), older, tuple(sources))
        if self._last is not None and self._last[0] == key:
            self.carried = self._last[2]
            return self._last[1]
        fragments = [self._fragments_of(article) for article in newest]
        self._fragments = {f.article.path: f for f in fragments}
        settings = self.settings
        updated = feeds.last_updated(newest) if newest else None
        heads = {suffix: main_head(settings, suffix, older) for suffix in urls.FEED_SUFFIXES}

        # Each feed: its type, its entries' fragments, and how n of them make a document.
        feed_kinds: dict[str, tuple[str, list[bytes], Callable[[list[bytes], int], bytes]]] = {
            urls.ATOM: (
                ATOM,
                [f.atom for f in fragments],
                lambda parts, n: feeds.atom_document(
                    parts, feeds.last_updated(newest[:n]), settings, heads[".atom"]
                ),
            ),
            urls.RSS: (
                RSS,
                [f.rss for f in fragments],
                lambda parts, n: feeds.rss_document(
                    parts, feeds.last_updated(newest[:n]), settings, heads[".rss"]
                ),
            ),
            urls.JSON: (
                JSON_FEED,
                [f.json for f in fragments],
                lambda parts, n: feeds.json_document(parts, settings, heads[".json"]),
            ),
        }
        bodies = {
            urls.INDEX: (
                index_document([f.index for f in fragments], settings, sources),
                HTML,
            ),
            urls.OPML: (opml.opml_document(sources, updated, settings), OPML),
        }
        counts = []
        for path, (kind, parts, document) in feed_kinds.items():
            assemble = functools.partial(_assemble, parts, document)
            separator = 1 if path == urls.JSON else 0
            body, count = _fit(parts, assemble, settings.max_feed_bytes, separator)
            bodies[path] = body, kind
            counts.append(count)
        self.carried = min(counts)
        documents = {
            path: self._resource(path, body, kind, updated) for path, (body, kind) in bodies.items()
        }
        self._last = key, documents, self.carried
        return documents

    def _resource(self, path: str, body: bytes, kind: str, updated: datetime | None) -> Resource:
        """The document at `path`: the one served before if its bytes are the same, else a new
        one, its Last-Modified moved past the one served before.

        Last-Modified is the newest entry's `updated`, but the bytes also change when an older
        article is added (`cp -p`), edited in the same second, or deleted; a reader that asks
        If-Modified-Since (libcurl discards a 200 that is not newer) would miss those.
        """
        before = self.served.get(path)
        if before is not None and before.body == body:
            return before
        resource = make_resource(body, kind, updated)
        if before is not None and before.last_modified and resource.last_modified:
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
        atom, rss = feeds.entry_fragments(article, settings)
        return _Fragments(
            article,
            atom,
            rss,
            feeds.json_item(article, settings),
            index_item(article, settings),
        )


def _assemble(
    parts: list[bytes], document: Callable[[list[bytes], int], bytes], count: int
) -> bytes:
    return document(parts[:count], count)


def _fit(
    parts: list[bytes], assemble: Callable[[int], bytes], limit: int, separator: int
) -> tuple[bytes, int]:
    """The document with as many of `parts` as fit in `limit` bytes, and how many: fewer
    entries rather than a document readers refuse. `separator`: the bytes between two parts
    (a JSON comma)."""
    total = len(assemble(0)) - separator  # n parts bring n - 1 separators
    count = 0
    for part in parts:
        total += len(part) + separator
        if total > limit:
            break
        count += 1
    # The estimate can be off either way by a few bytes: the head's date is the newest
    # entry's, and its length varies (microseconds or none).
    document = assemble(count)
    while len(document) > limit and count > 0:
        count -= 1
        document = assemble(count)
    while count < len(parts):
        bigger = assemble(count + 1)
        if len(bigger) > limit:
            break
        count, document = count + 1, bigger
    return document, count


def main_head(settings: Settings, suffix: str, older: str | None) -> FeedHead:
    """The head of a main feed: its hubs, and its link to the newest archive page."""
    links = (("prev-archive", urls.archive_path(older, suffix)),) if older else ()
    return FeedHead(urls.MAIN_FEEDS[suffix], links=links, hubs=settings.hubs)
