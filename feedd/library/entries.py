"""What the library keeps of each article (`Entry`), its sort `Key`, and what a scan did
(`Changes`)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import immutables

from feedd import urls
from feedd.parse.article import Article

Key = tuple[datetime, datetime, str]  # an entry's sort key: published, updated, path


@dataclass(frozen=True, slots=True)
class Changes:
    """What one scan or apply did: the paths whose article appeared, changed or went away,
    the rejections that are new (each is reported once, not at every rescan), and the paths
    that are no longer rejected (deleted, fixed or no longer candidates), so the count of
    rejected files a site reports changes with them."""

    changed: frozenset[str]
    new_rejections: tuple[tuple[str, str], ...]
    cleared: frozenset[str] = frozenset()
    # Folders that could not be listed and now can: the watcher must set their watches up.
    relisted: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.changed or self.new_rejections or self.cleared)

    @classmethod
    def merged(cls, *results: Changes | None) -> Changes:
        """What several scans or applies did, one after the other (None: one that was not)."""
        present = [r for r in results if r is not None]
        return cls(
            frozenset().union(*(r.changed for r in present)),
            tuple(rejection for r in present for rejection in r.new_rejections),
            frozenset().union(*(r.cleared for r in present)),
            frozenset().union(*(r.relisted for r in present)),
        )


class Entry(NamedTuple):
    """What the library keeps of a published article: enough to order it and to find it again.

    A named tuple, not a frozen dataclass like the rest: a start makes one per file, and a
    tuple is much quicker to build than a dataclass's `__init__` runs."""

    path: str
    page: str  # the URL path of its page
    published: datetime
    updated: datetime
    source: str | None
    # The digest of the file's bytes (`reading.digest`): an edit changes the entry even when
    # it keeps `updated` and the file's size, mtime and inode (`cp -p`), so it is published
    # and its page built again.
    version: int = 0

    @property
    def key(self) -> Key:
        """Sorts oldest first; the feeds list newest first."""
        return self.published, self.updated, self.path


def article_key(article: Article) -> Key:
    """The article's place in the library's order (`Entry.key`)."""
    return article.published, article.updated, article.path


class EntryBatch:
    """Entries made from columns of article rows, a batch at a time: a cold scan makes each
    chunk's while the workers read the next ones (the updater is idle then), rather than all
    of them once they are done. `Library._restore_all` puts them in the library."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._pages: immutables.MapMutation[str, Entry] = immutables.Map().mutate()
        # Each batch's keys sorted with their sources, so each source's keys are listed in
        # order too (the keys are unique: sources are never compared); one sort of the
        # sorted runs then merges them.
        self._keyed: list[tuple[Key, str | None]] = []
        self._runs = 0
        self._instants: dict[float, datetime] = {}

    def add(
        self,
        paths: Sequence[str],
        published: Sequence[float],
        updated: Sequence[float],
        sources: Sequence[str | None],
        versions: Sequence[int],
    ) -> None:
        pages = urls.article_paths(paths)
        instants = self._instants
        for at in set(published).difference(instants):
            instants[at] = datetime.fromtimestamp(at, UTC)
        published_at = list(map(instants.__getitem__, published))
        updated_at = list(map(_from_timestamp, updated))
        shared = list(map(shared_source, sources))
        entries = list(
            map(
                Entry._make,
                zip(paths, pages, published_at, updated_at, shared, versions, strict=True),
            )
        )
        self.entries.extend(entries)
        self._pages.update(zip(pages, entries, strict=True))
        keys = zip(published_at, updated_at, paths, strict=True)
        self._keyed.extend(sorted(zip(keys, shared, strict=True)))
        self._runs += 1

    def pages(self) -> immutables.Map[str, Entry]:
        """The entries by page: fewer than the entries if two would share a page."""
        return self._pages.finish()

    def keyed(self) -> list[tuple[Key, str | None]]:
        """Every key with its source, sorted."""
        if self._runs > 1:
            self._keyed.sort()
        return self._keyed


def shared_source(source: str | None) -> str | None:
    """One string per source name, however many articles carry it."""
    return sys.intern(source) if source is not None else None


_from_timestamp = functools.partial(datetime.fromtimestamp, tz=UTC)
