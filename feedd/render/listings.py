"""Feeds built on demand, not with every update: archive pages (RFC 5005) and each source's
feeds. A `Listing` says what one lists and how it introduces itself, resolved from a site by
URL path; a `ListingRenderer` builds it (off the event loop for `feedd serve`, see
`serve/ondemand.py`, and one at a time for `--publish` and `feedd build`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedd import urls
from feedd.config import Settings
from feedd.library.entries import Entry
from feedd.parse.article import Article
from feedd.render import feeds
from feedd.render.archive import Archive
from feedd.render.feeds import FeedHead
from feedd.render.site import ATOM, JSON_FEED, RSS, Resource, Site, make_resource


@dataclass(frozen=True, slots=True)
class Listing:
    """A feed built on demand (an archive page, a source's feed): what it lists and says of
    itself. Hashable, so a built one is found again while nothing in it changed."""

    head: FeedHead
    entries: tuple[Entry, ...]  # newest first
    fit: bool  # cut to max_feed_bytes like the main feeds (never an archive page: it must be whole)

    @property
    def suffix(self) -> str:
        return self.head.self_path[self.head.self_path.rindex(".") :]


def listing(site: Site, path: str, settings: Settings) -> Listing | None:
    """The on-demand feed at URL path `path` in `site`, if there is one."""
    stem, dot, suffix = path.rpartition(".")
    suffix = dot + suffix
    if suffix not in urls.FEED_SUFFIXES:
        return None
    if stem.startswith(urls.ARCHIVE) and site.archive is not None:
        return _archive_listing(site, site.archive, stem[len(urls.ARCHIVE) :], suffix, settings)
    if stem.startswith(urls.SOURCES):
        feed = site.sources.get(stem[len(urls.SOURCES) :])
        if feed is None:
            return None
        head = FeedHead(
            path,
            f"{settings.title}: {feed.name}",
            hubs=settings.hubs,
            id_suffix=f":source:{stem[len(urls.SOURCES) :]}",  # the slug: an IRI has no spaces
        )
        return Listing(head, feed.entries, fit=True)
    return None


def _archive_listing(
    site: Site, archive: Archive, name: str, suffix: str, settings: Settings
) -> Listing | None:
    page = archive.page(name)
    if page is None:
        return None
    links = []
    if (older := archive.previous(page)) is not None:
        links.append(("prev-archive", urls.archive_path(older.name, suffix)))
    if (newer := archive.next(page)) is not None:
        links.append(("next-archive", urls.archive_path(newer.name, suffix)))
    links.append(("current", urls.MAIN_FEEDS[suffix]))
    entries = []
    for key in reversed(archive.keys[page.start : page.stop]):
        entry = site.pages.get(urls.article_path(key[2]))
        if entry is not None and entry.key == key:
            entries.append(entry)
    head = FeedHead(
        urls.archive_path(page.name, suffix),
        f"{settings.title} (archive {page.name})",
        tuple(links),
        archive=True,
    )
    return Listing(head, tuple(entries), fit=False)


class ListingRenderer:
    """Builds on-demand feeds, reading their articles with `load`."""

    def __init__(self, settings: Settings, load: Callable[[Entry], Article | None]) -> None:
        self.settings = settings
        self._load = load

    def __call__(self, listing: Listing) -> Resource | None:
        """None when an article it lists cannot be read now (the folder moved away, say): a
        page missing some would be cached and copied as if whole; the server answers 503."""
        articles = [a for entry in listing.entries if (a := self._load(entry)) is not None]
        if len(articles) < len(listing.entries):
            return None
        settings, head = self.settings, listing.head
        kinds: dict[str, tuple[str, Callable[[Sequence[Article]], bytes]]] = {
            ".atom": (ATOM, lambda some: feeds.atom(some, settings, head)),
            ".rss": (RSS, lambda some: feeds.rss(some, settings, head)),
            ".json": (JSON_FEED, lambda some: feeds.json_feed(some, settings, head)),
        }
        kind, document = kinds[listing.suffix]
        body = document(articles)
        if listing.fit:
            count = len(articles)
            while len(body) > settings.max_feed_bytes and count > 0:
                count = count * 3 // 4 if count > 4 else count - 1
                body = document(articles[:count])
        updated = feeds.last_updated(articles) if articles else None
        if updated is not None:
            updated = min(updated, datetime.now(UTC).replace(microsecond=0))
        return make_resource(body, kind, updated)


def on_demand_feeds(site: Site) -> list[str]:
    """The URL paths of every feed `site` builds on demand: archive pages, then sources."""
    paths = []
    if site.archive is not None:
        for page in site.archive.pages():
            paths += [urls.archive_path(page.name, suffix) for suffix in urls.FEED_SUFFIXES]
    for slug in sorted(site.sources):
        paths += [f"{urls.SOURCES}{slug}{suffix}" for suffix in urls.FEED_SUFFIXES]
    return paths
