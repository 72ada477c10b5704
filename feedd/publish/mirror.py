"""`feedd serve --publish DIR`: a static copy of the whole site in DIR, kept in step with what
is served, for nginx or a CDN origin to serve at any scale while feedd stays the one writer.

Every file is replaced by an atomic rename with its `.gz` beside it, so a reader of DIR never
sees half a document. The first copy is a whole `feedd build`; after it, each update writes
only what changed: the pages of the articles that changed, the archive pages and source feeds
whose entries or links changed, then the main documents (so they never link to a file that
is not there yet), then removes what went away. Its own thread, so serving never waits on
the disk; sites that arrive while it writes are coalesced into the newest.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from feedd import urls
from feedd.config import Settings
from feedd.library.library import article_loader
from feedd.library.order import OrderPrefix
from feedd.publish import folder
from feedd.render.archive import Archive, Page
from feedd.render.listings import ListingRenderer, listing
from feedd.render.pages import PageRenderer
from feedd.render.site import Resource, Site

log = logging.getLogger(__name__)

_MANIFEST_EVERY_SECONDS = 2.0
_RETRY_SECONDS = (1.0, 5.0, 30.0, 120.0, 300.0)


@dataclass(frozen=True, slots=True)
class _Pending:
    site: Site
    changed: frozenset[str]  # relative paths of the articles that changed
    settings: Settings


class Mirror:
    """Call `publish` with each new site (from any thread); `stop` writes what is pending."""

    def __init__(self, out: Path, on_written: Callable[[Site], object] | None = None) -> None:
        """`on_written(site)` is called (from the mirror's thread) once `site` is in the folder."""
        self.out = out
        self._on_written = on_written
        self._lock = threading.Condition()
        self._pending: _Pending | None = None
        self._changed: set[str] = set()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="feedd-mirror", daemon=True)
        self._written: _Written | None = None
        self._busy = False
        self.updates = 0

    def start(self) -> None:
        self._thread.start()

    def publish(self, site: Site, changed: Iterable[str], settings: Settings) -> None:
        with self._lock:
            self._changed.update(changed)
            self._pending = _Pending(site, frozenset(self._changed), settings)
            self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Whether everything published so far is in the folder (or failed) within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        retry_at = 0.0
        while True:
            with self._lock:
                # After a failure, wait a while: a disk that is full or a folder that cannot be
                # written is not cured by the next update, and each retry writes everything.
                while not self._stopping and (self._pending is None or time.monotonic() < retry_at):
                    self._lock.wait(max(0.0, retry_at - time.monotonic()) or None)
                pending, self._pending = self._pending, None
                self._changed = set()
                stopping = self._stopping
                self._busy = pending is not None
            if pending is not None:
                written = False
                try:
                    self._write(pending)
                    self.updates += 1
                    failures = 0
                    written = True
                except Exception as error:
                    # The copy keeps its last whole state (every file old or new, whole); the
                    # retry writes it all, with what changed meanwhile.
                    delay = _RETRY_SECONDS[min(failures, len(_RETRY_SECONDS) - 1)]
                    failures += 1
                    log.error(
                        "cannot publish to %s: %s; retrying in %.0f s", self.out, error, delay
                    )
                    self._written = None
                    retry_at = time.monotonic() + delay
                    with self._lock:
                        if self._pending is None:  # nothing newer: retry this one
                            self._pending = pending
                if written and self._on_written is not None:
                    # RuntimeError: the event loop has closed, feedd is stopping.
                    with contextlib.suppress(RuntimeError):
                        self._on_written(pending.site)
            with self._lock:
                self._busy = False
                self._lock.notify_all()
            if stopping:
                if self._written is not None:
                    self._written.save_manifest(force=True)
                return

    def _write(self, pending: _Pending) -> None:
        written = self._written
        if written is None or written.settings != pending.settings:
            self._written = _Written.whole(self.out, pending.site, pending.settings)
        else:
            written.update(pending.site, pending.changed)


class _Written:
    """What is in the folder: the site it shows and the names of its files."""

    def __init__(self, out: Path, site: Site, settings: Settings, names: set[str]) -> None:
        self.out = out.resolve()
        self.site = site
        self.settings = settings
        self.names = names
        self._pages = PageRenderer(settings, article_loader(settings))
        self._listings = ListingRenderer(settings, article_loader(settings))
        self._archive_pages = _pages_of(site.archive)
        self._manifest_saved = time.monotonic()
        self._manifest_stale = False

    @classmethod
    def whole(cls, out: Path, site: Site, settings: Settings) -> _Written:
        started = time.monotonic()
        load = article_loader(settings)
        listings = ListingRenderer(settings, load)

        def render_listing(path: str) -> Resource | None:
            found = listing(site, path, settings)
            return listings(found) if found is not None else None

        stats = folder.write_site(
            site, out, PageRenderer(settings, load), render_listing=render_listing
        )
        log.info(
            "published the whole site to %s: %d files written, %d unchanged, %d removed (%.1f s)",
            out,
            stats.written,
            stats.unchanged,
            stats.removed,
            time.monotonic() - started,
        )
        return cls(out, site, settings, folder.read_manifest(out.resolve()))

    def update(self, site: Site, changed: frozenset[str]) -> None:
        old, settings = self.site, self.settings
        first: list[tuple[str, Resource]] = []  # pages, then archive pages and source feeds
        gone: list[str] = []
        for path in sorted(changed):
            page = urls.article_path(path)
            entry = site.pages.get(page)
            if entry is not None and entry.path == path:
                resource = self._pages(entry)
                if resource is not None:
                    first.append((page, resource))
                    continue
            if page in old.pages and page not in site.pages:
                gone.append(page)
        pages, remade = _archive_pages(old.archive, self._archive_pages, site.archive)
        touched = _pages_listing(site, changed)
        for name in _changed_archive_pages(
            old.archive, self._archive_pages, site.archive, pages, [*remade, *touched], touched
        ):
            for suffix in urls.FEED_SUFFIXES:
                path = urls.archive_path(name, suffix)
                found = listing(site, path, settings)
                built = self._listings(found) if found is not None else None
                if built is not None:
                    first.append((path, built))
        gone += [
            urls.archive_path(n, s)
            for n in self._archive_pages.keys() - pages.keys()
            for s in urls.FEED_SUFFIXES
        ]
        for slug, feed in site.sources.items():
            if old.sources.get(slug) != feed:
                for suffix in urls.FEED_SUFFIXES:
                    found = listing(site, f"{urls.SOURCES}{slug}{suffix}", settings)
                    if found is not None and (built := self._listings(found)) is not None:
                        first.append((found.head.self_path, built))
        gone += [
            f"{urls.SOURCES}{slug}{s}"
            for slug in set(old.sources) - set(site.sources)
            for s in urls.FEED_SUFFIXES
        ]
        last = [
            (path, resource)
            for path, resource in site.resources.items()
            if old.resources.get(path) is not resource
        ]
        gone += [path for path in old.resources if path not in site.resources]
        added = {folder.file_name(p) + s for p, _ in first + last for s in ("", ".gz")} - self.names
        if added:  # listed before they are written, so a crash never leaves a file unlisted
            self.names |= added
            self.save_manifest(force=True)
        folder.write_files(self.out, first)
        folder.write_files(self.out, last)
        removed = {folder.file_name(p) + s for p in gone for s in ("", ".gz")} & self.names
        folder.remove_files(self.out, removed)
        if removed:
            self.names -= removed
            self._manifest_stale = True
            self.save_manifest()
        self.site, self._archive_pages = site, pages
        log.debug(
            "published %d documents to %s, removed %d",
            len(first) + len(last),
            self.out,
            len(removed) // 2,
        )

    def save_manifest(self, force: bool = False) -> None:
        """The names on disk, rewritten at most every few seconds for removals (a crash in
        between leaves a removed name listed, which the next write ignores)."""
        if force or (
            self._manifest_stale
            and time.monotonic() - self._manifest_saved > _MANIFEST_EVERY_SECONDS
        ):
            folder.write_manifest(self.out, self.names)
            self._manifest_saved, self._manifest_stale = time.monotonic(), False


Linked = dict[str, tuple[Page, str | None, str | None]]  # page name: page, older, newer


def _pages_of(archive: Archive | None) -> Linked:
    """Each archive page by name, oldest first, with the names of its neighbours (its links)."""
    return _linked(archive.pages() if archive is not None else [], None)


def _linked(pages: list[Page], older: str | None) -> Linked:
    names = [older, *(p.name for p in pages), None]
    return {page.name: (page, names[i], names[i + 2]) for i, page in enumerate(pages)}


def _archive_pages(
    old: Archive | None, old_pages: Linked, new: Archive | None
) -> tuple[Linked, list[str]]:
    """The pages of `new` with their links, and the names of those that may differ from
    `old_pages` for more than listing a changed article.

    All of them, unless the two archives are known to begin alike (see
    `OrderPrefix.shared_with`): then the pages before the one listing the last key they share
    are the same pages with the same links, and only that page and later ones are made again.
    An article published at the top moves one key into the archive: that changes its last
    page or two, not every page of a large archive made and compared at every update."""
    fresh: list[Page] = []
    if old is not None and new is not None and old.size == new.size:
        keys = new.keys
        shared = keys.shared_with(old.keys) if isinstance(keys, OrderPrefix) else 0
        fresh = new.pages(since=shared - 1) if shared else []
    if not fresh:
        pages = _pages_of(new)
        return pages, list(pages)
    # The page after the last one kept starts below the shared end in both: same name, so the
    # last page kept keeps its link.
    cut = fresh[0].start
    kept = dict(itertools.takewhile(lambda item: item[1][0].start < cut, old_pages.items()))
    again = _linked(fresh, next(reversed(kept), None))
    return kept | again, list(again)


def _changed_archive_pages(
    old: Archive | None,
    old_pages: Linked,
    new: Archive | None,
    new_pages: Linked,
    names: Iterable[str],
    touched: set[str],
) -> list[str]:
    """Of the archive pages `names`, those whose entries, order or links differ, or that list
    an article that changed (`touched`: their names)."""
    if new is None:
        return []
    result = []
    for name in dict.fromkeys(names):
        if name not in new_pages:
            continue
        page, older, newer = new_pages[name]
        before = old_pages.get(name)
        if (
            old is None
            or before is None
            or name in touched
            or before[1:] != (older, newer)
            or old.keys[before[0].start : before[0].stop] != new.keys[page.start : page.stop]
        ):
            result.append(name)
    return result


def _pages_listing(site: Site, changed: frozenset[str]) -> set[str]:
    """The names of the archive pages of `site` that list one of the `changed` articles."""
    archive = site.archive
    names: set[str] = set()
    if archive is None:
        return names
    for path in changed:
        entry = site.pages.get(urls.article_path(path))
        if entry is None or entry.path != path:
            continue
        at = bisect_left(archive.keys, entry.key)
        if at < len(archive.keys) and archive.keys[at] == entry.key:
            names.add(archive.page_at(at).name)
    return names
