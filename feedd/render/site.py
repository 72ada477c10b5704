"""The published site: an immutable mapping from URL path to ready-to-send bytes."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedd.library.entries import Entry
    from feedd.render.archive import Archive

ATOM = "application/atom+xml; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
JSON_FEED = "application/feed+json"  # JSON is UTF-8 by definition (RFC 8259)
HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"  # what readers and browsers know OPML by

# nginx's default level: each update gzips every document it changed before serving it, and
# higher levels cost several times the CPU for a fifth less size.
GZIP_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Resource:
    """One document, with everything a conditional or compressed response needs precomputed."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str
    gzip_etag: str
    last_modified: datetime | None

    # Last-Modified as HTTP writes it (RFC 9110 IMF-fixdate), formatted once, not per request.
    http_last_modified: str | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        when = self.last_modified
        text = http_date(when) if when else None
        object.__setattr__(self, "http_last_modified", text)


def make_resource(
    body: bytes,
    content_type: str,
    last_modified: datetime | None,
) -> Resource:
    # SHA-256 runs in the CPU's SHA instructions where they exist: every update hashes its
    # documents before they can be served.
    digest = hashlib.sha256(body).hexdigest()[:24]
    return Resource(
        body=body,
        gzipped=gzip_bytes(body),
        content_type=content_type,
        etag=f'"{digest}"',
        gzip_etag=f'"{digest}-gz"',
        last_modified=last_modified,
    )


def http_date(when: datetime) -> str:
    """`when` as HTTP writes dates (RFC 9110 IMF-fixdate)."""
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def gzip_bytes(body: bytes) -> bytes:
    """Deterministic gzip (no timestamp in the header), so equal bodies give equal bytes."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(frozen=True, slots=True)
class Site:
    """What the server answers from, swapped whole: a reader never sees half an update.

    `resources` maps a decoded URL path (`/feed.atom`) to its prebuilt `Resource`; `pages` maps
    the URL path of each article page to the article's entry, for pages built on demand (a
    site rendered with every page built has them in `resources` and no `pages`).
    """

    resources: Mapping[str, Resource]
    articles: int
    rejected: int
    updated: datetime | None
    pages: Mapping[str, Entry] = field(default_factory=lambda: MappingProxyType({}))
    # For the feeds built on demand: the archive pages, and each source's newest entries
    # (newest first) by the source's slug.
    archive: Archive | None = None
    sources: Mapping[str, SourceFeed] = field(default_factory=lambda: MappingProxyType({}))
    # False for the first site after a restart, taken from the cache before the folder was
    # walked to check it (see `Library.scan`); `/healthz` says so.
    checked: bool = True
    # The name of the archive's newest page (what the main feeds link as prev-archive): the
    # months before its own change no more. Known without `archive` in the serving process.
    newest_archive: str | None = None

    @classmethod
    def create(
        cls,
        resources: Mapping[str, Resource],
        *,
        articles: int,
        rejected: int,
        updated: datetime | None,
        pages: Mapping[str, Entry] | None = None,
        archive: Archive | None = None,
        sources: Mapping[str, SourceFeed] | None = None,
        checked: bool = True,
        newest_archive: str | None = None,
    ) -> Site:
        """`pages` and `sources` must not change afterwards: pass persistent maps.
        `newest_archive` is taken from `archive` when there is one."""
        if archive is not None:
            page = archive.newest()
            newest_archive = page.name if page is not None else None
        return cls(
            MappingProxyType(dict(resources)),
            articles,
            rejected,
            updated,
            pages if pages is not None else MappingProxyType({}),
            archive,
            sources if sources is not None else MappingProxyType({}),
            checked,
            newest_archive,
        )


@dataclass(frozen=True, slots=True)
class SourceFeed:
    """A source's name and the entries of its newest articles, newest first."""

    name: str
    entries: tuple[Entry, ...]
