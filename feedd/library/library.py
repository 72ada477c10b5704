"""The articles in the folder, keyed by relative path, and the files that were rejected and why.

It owns the rules for which files are candidates and is the only module that reads articles
from disk. `scan()` walks the whole folder; `apply(paths)` re-reads only what changed.

Of each article it keeps an `Entry` (what ordering and routing need); only the newest ones are
held whole, for the feeds. The rest are read again when a page needs them, so memory does not
grow with the size of the articles.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from operator import attrgetter

import immutables

from feedd import urls
from feedd.config import Settings
from feedd.library.cache import ArticleCache, Rows, Stored, cache_path
from feedd.library.candidates import Candidates, WalkResult, walk_everything
from feedd.library.entries import Changes, Entry, EntryBatch, Key, shared_source
from feedd.library.folders import FolderIndex
from feedd.library.order import Order
from feedd.library.reading import (
    PARALLEL_FROM,
    UNSIGNED,
    Heads,
    NotACandidate,
    Signature,
    read_article,
    read_heads,
    read_many,
    transient,
    worker_pool,
)
from feedd.parse.article import Article, ArticleError, Head

Progress = Callable[[int, int], None]

# Past this many files at once, the library is filled in bulk: sorted once, not file by file.
_BULK = 256

log = logging.getLogger(__name__)


class Library:
    """Mutable, owned by one writer (the build, or the updater thread).

    `entries` and `pages` (page URL path to entry, a persistent map: a site keeps the one it was
    rendered with while the library moves on) list what is published; `newest(n)` gives the
    newest articles whole. It scans and applies changes, keeps the rejections and saves the
    cache; the entries' order is kept by an `Order`, the paths below each folder by a
    `FolderIndex`.
    """

    def __init__(self, settings: Settings, cache: ArticleCache | None = None) -> None:
        self.settings = settings
        self.root = os.path.realpath(settings.seeds)
        self._candidates = Candidates(self.root, settings.include)
        self._cache = cache
        # Paths whose cache row is out of date: written from what the library holds when
        # saved, so a cold start does not keep a row a file besides its entries.
        self._unsaved: set[str] = set()
        self.entries: dict[str, Entry] = {}
        self.pages: immutables.Map[str, Entry] = immutables.Map()
        self._pages_edit: immutables.MapMutation[str, Entry] | None = None
        # While filling in bulk, the publication times made datetimes so far: most articles
        # share theirs with others (a day, a time of day), and then share one object.
        self._instants: dict[float, datetime] = {}
        self.rejected: dict[str, str] = {}
        # Whether what is published was taken from the cache and not checked yet (see `scan`),
        # and the rejections it held, for the scan that checks it to report.
        self.unchecked = False
        self._held_rejections: tuple[tuple[str, str], ...] = ()
        self.warnings: dict[str, tuple[str, ...]] = {}
        # hash() of each file's (size, mtime_ns, inode): one int is smaller than a tuple of
        # three, and a collision would only skip one re-read at a rescan.
        self._signatures: dict[str, int] = {}
        self._order = Order()
        self._whole: dict[str, Article] = {}  # the newest articles, held for the feeds
        self._last_updated: datetime | None = None  # None: to be computed again
        # Put off after a warm start: its first site does not need it, the scan that checks
        # that site makes it.
        self._folders = FolderIndex()
        # What `newest()` found changed (an event missed, or a restart's first site taken
        # from the cache): reported with the next update.
        self._unreported: list[Changes] = []

    @property
    def articles(self) -> Mapping[str, Article]:
        """Every article whole, read again from disk where not held: for tests and tools,
        not for the daemon's hot path."""
        return {path: article for path in self.entries if (article := self.article(path))}

    def article(self, path: str) -> Article | None:
        """The article at `path` whole, if it is published."""
        entry = self.entries.get(path)
        if entry is None:
            return None
        held = self._whole.get(path)
        if held is not None:
            return held
        try:
            article = read_article(self.root, path, self.settings)
        except (ArticleError, NotACandidate):
            return None
        return article if article.updated == entry.updated else None

    def newest(self) -> list[Article]:
        """The `max_entries` newest articles, newest first, whole.

        The ones not held are read again (they moved up when newer ones went away); a file
        that changed unseen meanwhile gets its entry updated, so the feeds never pair an old
        entry with new text.
        """
        count = self.settings.max_entries
        paths: list[str] = []
        for _ in range(3):  # a re-read can reorder the list; it settles at once in practice
            paths = [key[2] for key in self._order.newest(count)]
            missing = [path for path in paths if path not in self._whole]
            if not missing:
                break
            self._unreported.append(self.apply(missing, whole=True))
        self._whole = {path: self._whole[path] for path in paths if path in self._whole}
        return list(self._whole.values())

    def last_updated(self) -> datetime | None:
        """When the newest change to a published article was made."""
        if self._last_updated is None and self.entries:
            self._last_updated = max(map(_updated, self.entries.values()))
        return self._last_updated

    def archived(self, before: Key | None) -> Sequence[Key]:
        """The keys of the articles older than `before` (the oldest one the main feeds carry;
        None: every article), oldest first: what the archive pages list (unchanging: the site
        keeps it while the library moves on; see `Order.archived`)."""
        return self._order.archived(before)

    def newest_of(self, source: str) -> tuple[Entry, ...]:
        """The entries of the `max_entries` newest articles from `source`, newest first."""
        keys = self._order.newest_of(source, self.settings.max_entries)
        return tuple(self.entries[key[2]] for key in keys)

    def take_unreported(self) -> Changes:
        """What `newest()` found when it read articles again, since the last call."""
        found, self._unreported = self._unreported, []
        return Changes.merged(*found)

    def take_touched_sources(self) -> set[str]:
        """The sources whose articles came, changed or went since the last call."""
        return self._order.take_touched_sources()

    def scan(self, progress: Progress | None = None, *, checked_later: bool = False) -> Changes:
        """Walk the whole folder: read new and changed files, forget vanished ones.

        `progress(done, total)` is called now and then while many files are read. While the
        folder itself is missing (moved away, being replaced), nothing is forgotten: the last
        good site stays published until it is back.

        `checked_later`: a first scan with a cache takes the cache as it is, without walking
        the folder, for a caller that scans again at once (the daemon, once its watches are
        in place). Rejections it holds are reported by that scan, if they still stand."""
        if not os.path.isdir(self.root):
            log.warning("%s is missing; keeping what was published", self.root)
            return Changes(frozenset(), ())
        with _collector_paused():
            nothing_known = not (self._signatures or self.entries or self.rejected)
            if nothing_known and self._cache is not None and self._cache.exists():
                cached = self._cache.load()
                # Published unchecked only if complete: else a restart would publish less than
                # the folder holds, and a static copy remove the rest.
                if checked_later and cached and self._cache.complete:
                    return self._restore_unchecked(cached)
                changes = self._warm_start(cached, progress)
            else:
                changes = self._walk_and_refresh(nothing_known, progress)
        self.unchecked = False
        self._folder_index()  # here, rather than at the first event for a new file
        held, self._held_rejections = self._held_rejections, ()
        standing = [r for r in held if self.rejected.get(r[0]) == r[1]]
        if not standing:
            return changes
        rejections = tuple(sorted({*changes.new_rejections, *standing}))
        return Changes(changes.changed, rejections, changes.cleared, changes.relisted)

    def _walk_and_refresh(self, nothing_known: bool, progress: Progress | None) -> Changes:
        # A first scan with nothing cached reads every file, and reading a file signs it.
        self._candidates.links.clear()
        walk = self._candidates.walk("", signed=bool(self._signatures))
        if nothing_known:
            first = list(itertools.islice(walk, _BULK + 1))
            if len(first) > _BULK:
                return self._read_all(itertools.chain(first, walk), progress)
            found = dict(first)  # (the whole walk)
        else:
            found = dict(walk)
        known = set(self.entries) | set(self.rejected)
        return self._refresh(found, known, force=False, progress=progress)

    def _read_all(
        self, walk: Iterable[tuple[str, WalkResult]], progress: Progress | None
    ) -> Changes:
        """A first scan of many files with nothing known: their heads read (by workers, for
        many more, which start while the walk goes on) and restored column by column, as a
        warm start's rows are, rather than one by one on the cores the workers read with. The
        price is what the restore holds at once, at its peak."""
        files: list[str] = []
        rejected: dict[str, Stored] = {}

        def files_found() -> Iterator[str]:
            for path, what in walk:
                if isinstance(what, str):  # a folder that cannot be listed
                    rejected[path] = Stored(0, None, None, None, None, what)
                else:
                    files.append(path)
                    yield path

        columns: Heads = Heads([], [], [], [], [], [], [], [])
        made = EntryBatch()
        done = 0
        for heads in read_heads(self.root, files_found(), self.settings):
            for column, more in zip(columns, heads, strict=True):
                column.extend(more)  # type: ignore[attr-defined]  # (every field is a list)
            made.add(heads.paths, heads.published, heads.updated, heads.sources, heads.digests)
            done += len(heads.paths) + len(heads.others)
            if progress is not None:
                progress(done, len(files))  # (all found: see `read_heads`)
        unsigned = set(rejected)
        for path, signature, reason in columns.others:
            if reason is None:
                continue  # no candidate now (gone since the walk, say)
            if transient(reason):
                unsigned.add(path)  # not signed: the next rescan tries again
            # (UNSIGNED: refused unread, as too large; looked at again at the next rescan)
            version = hash(signature if signature is not None else UNSIGNED)
            rejected[path] = Stored(version, None, None, None, None, reason)
        rows = Rows(  # (the lists themselves: no copies)
            paths=columns.paths,
            versions=columns.versions,
            published=columns.published,
            updated=columns.updated,
            sources=columns.sources,
            warnings=columns.warnings,
            digests=columns.digests,
            rejected=rejected,
        )
        changes = self._restore_all(rows, made)
        for path in unsigned:
            self._signatures.pop(path, None)
        self._unsaved.update(files)
        return Changes(changes.changed, tuple(sorted(changes.new_rejections)))

    def _restore_unchecked(self, cached: Rows) -> Changes:
        """What the cache holds, published as it is; the next scan checks it."""
        restored = self._restore_all(cached)
        self._held_rejections = restored.new_rejections
        self.unchecked = True
        return Changes(restored.changed, ())

    def _warm_start(self, cached: Rows, progress: Progress | None) -> Changes:
        """The first scan with a cache: publish what it holds, then check it against the
        folder like any later rescan. When the cache holds many files, another process walks
        the folder meanwhile: the walk and making the entries both need the GIL, and take it
        side by side rather than one after the other. For a few files, starting that process
        would cost more than the walk."""
        found: dict[str, WalkResult] | None = None
        with contextlib.ExitStack() as stack:
            walking = None
            if len(cached) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1:
                try:
                    pool = stack.enter_context(worker_pool(1))
                    walking = pool.submit(walk_everything, self.root, self.settings.include)
                except OSError as error:
                    log.warning("cannot start a process to walk the folder: %s", error)
            restored = self._restore_all(cached)
            if walking is not None:
                try:
                    walked, links = walking.result()
                    found = dict(walked)
                    self._candidates.links = links
                except (BrokenProcessPool, OSError) as error:
                    log.warning("the walk in another process failed (%s); walking here", error)
        if found is None:
            self._candidates.links.clear()
            found = dict(self._candidates.walk(""))
        checked = self._refresh(found, set(self.entries) | set(self.rejected), False, progress)
        # A rejection the cache held is reported only if it still stands.
        rejections = {*restored.new_rejections, *checked.new_rejections}
        return Changes(
            restored.changed | checked.changed,
            tuple(sorted(r for r in rejections if self.rejected.get(r[0]) == r[1])),
            checked.cleared,
            checked.relisted,
        )

    def _restore_all(self, rows: Rows, made: EntryBatch | None = None) -> Changes:
        """Every cached row made an entry (or a rejection), as if each file were unchanged.

        The articles column by column, in loops that run in C where they can, rather than one
        by one (`_restore`). `made`: the entries of `rows`' articles, made already (a cold scan
        makes them while its workers read).
        Rejections go through `_restore`, and so does every row if two articles would share
        a page (rows no scan writes: a cache edited, or left by another version)."""
        assert not (self.entries or self.rejected), "restored into an empty library only"
        if made is None:
            made = EntryBatch()
            made.add(rows.paths, rows.published, rows.updated, rows.sources, rows.digests)
        paths = rows.paths
        self.pages = made.pages()
        if len(self.pages) < len(paths):
            self.pages = immutables.Map()
            return self._restore_each(rows.stored())
        keyed = made.keyed()
        with self._in_bulk(True, in_order=True):
            self._folders.put_off()
            self.entries.update(zip(paths, made.entries, strict=True))
            self._signatures.update(zip(paths, rows.versions, strict=True))
            self._order.fill(keyed)
            for path, warnings in zip(paths, rows.warnings, strict=True):
                if warnings:
                    self.warnings[path] = tuple(json.loads(warnings))
            rejections = []
            for path, stored in rows.rejected.items():  # rejections only: the order holds
                self._signatures[path] = stored.version
                rejection = self._restore(path, stored)
                if rejection is not None:
                    rejections.append((path, rejection))
        return Changes(frozenset(paths), tuple(rejections))

    def _restore_each(self, cached: Mapping[str, Stored]) -> Changes:
        """Cached rows made entries (or rejections) one by one."""
        changed: set[str] = set()
        rejections: list[tuple[str, str]] = []
        with self._in_bulk(True):
            for path, stored in cached.items():
                self._signatures[path] = stored.version
                rejection = self._restore(path, stored)
                if rejection is None:
                    changed.add(path)
                else:
                    rejections.append((path, rejection))
        return Changes(frozenset(changed), tuple(rejections))

    def save(self) -> None:
        """Write what changed since the last save to the cache (a no-op without one), or every
        row when the cache on disk is not known to hold the others."""
        cache = self._cache
        if cache is None:
            return
        if cache.complete and not self._unsaved:
            return
        if not cache.save({path: self._stored(path) for path in self._unsaved}):
            rows = {
                path: self._stored(path) for path in itertools.chain(self.entries, self.rejected)
            }
            cache.save_whole({path: row for path, row in rows.items() if row is not None})
        self._unsaved = set()

    def _stored(self, path: str) -> Stored | None:
        """The cache row of `path` as the library has it (None: none to keep)."""
        entry = self.entries.get(path)
        if entry is not None:
            warnings = self.warnings.get(path)
            return Stored(
                # Not signed (it changed while read): a version no walk gives, read again.
                self._signatures.get(path, hash(UNSIGNED)),
                entry.published.timestamp(),
                entry.updated.timestamp(),
                entry.source,
                json.dumps(warnings) if warnings else None,
                None,
                entry.version,
            )
        reason = self.rejected.get(path)
        version = self._signatures.get(path)
        if reason is None or version is None or transient(reason):
            return None
        return Stored(version, None, None, None, None, reason)

    def apply(self, paths: Iterable[str], *, whole: bool = False) -> Changes:
        """Re-read the given relative paths (files or folders) as they are now on disk.

        `whole`: read here, one by one, keeping the newest articles whole (for `newest`)."""
        known: set[str] = set()
        wanted = {posixpath.normpath("/" + p).strip("/") for p in paths}
        wanted |= self._candidates.aliases(wanted)  # what links lead to changed too
        for path in wanted:
            if not path:
                everything = set(self.entries) | set(self.rejected)
                self._candidates.links.clear()
                return self._refresh(
                    dict(self._candidates.walk("")), everything, force=True, whole=whole
                )
            if path in self.entries:  # a published file: nothing is known below it
                known.add(path)
                continue
            if path in self.rejected:  # a file, or a folder that cannot be listed
                known.add(path)
            known.update(self._folder_index().below(path))
        found = dict(self._candidates.walk_paths(wanted))
        changes = self._refresh(found, known, force=True, whole=whole)
        if self._held_rejections and changes.new_rejections:  # reported now: not again
            reported = {path for path, _ in changes.new_rejections}
            self._held_rejections = tuple(r for r in self._held_rejections if r[0] not in reported)
        return changes

    def _refresh(
        self,
        found: dict[str, WalkResult],
        known: set[str],
        force: bool,
        progress: Progress | None = None,
        whole: bool = False,
    ) -> Changes:
        gone = known - found.keys()
        unlistable = [path for path, what in found.items() if isinstance(what, str)]
        if unlistable:  # what was published from a folder that cannot be listed now stays
            prefixes = tuple("" if p == "." else p + "/" for p in unlistable)
            gone = {path for path in gone if not path.startswith(prefixes)}
        changed: set[str] = set()
        cleared = {path for path in gone if path in self.rejected}
        relisted = frozenset(
            path for path in cleared if self.rejected[path].startswith("cannot list folder:")
        )
        for path in gone:
            changed.update(self._forget(path))
            self._folders.discard(path)
        pending: dict[str, Signature | None] = {}
        for path, signature in found.items():
            if isinstance(signature, str):  # a folder that cannot be listed
                pending[path] = None
                continue
            version = hash(signature)
            if force or self._signatures.get(path) != version:
                self._signatures[path] = version
                pending[path] = signature
        total = len(pending)
        bulk = not whole and total > _BULK
        new_rejections: list[tuple[str, str]] = []
        with self._in_bulk(bulk):
            # Articles are kept whole only one by one (the newest are, for the feeds): in
            # bulk only heads are kept, and a head parses in a fraction of the article's time.
            outcomes = self._outcomes(pending, found, whole or not bulk)
            for done, (path, version, result) in enumerate(outcomes, 1):
                if progress is not None and (done % 1000 == 0 or done == total):
                    progress(done, total)
                before = self.entries.get(path), self.rejected.get(path)
                if isinstance(result, Stored) and bulk and before == (None, None):
                    rejection = self._restore(path, result)  # nothing known of it: fast path
                    if rejection is None:
                        changed.add(path)
                    else:
                        new_rejections.append((path, rejection))
                    continue
                if before == (None, None):
                    self._folders.add(path)
                self._settle(
                    path, result.head() if isinstance(result, Stored) else result, bulk, version
                )
                after = self.entries.get(path), self.rejected.get(path)
                if after == (None, None):
                    self._folders.discard(path)
                if after[1] is not None and after[1] != before[1]:
                    new_rejections.append((path, after[1]))
                elif after[1] is None and before[1] is not None:
                    cleared.add(path)
                if after[0] != before[0]:
                    changed.add(path)
        new_rejections.sort()
        return Changes(frozenset(changed), tuple(new_rejections), frozenset(cleared), relisted)

    @contextlib.contextmanager
    def _in_bulk(self, bulk: bool, *, in_order: bool = False) -> Iterator[None]:
        """Many files at once: the page map is edited in place and frozen once, and the order
        sorted once (unless the keys were added `in_order`), rather than both copied or
        shifted for every file.

        The cyclic garbage collector is paused meanwhile (every few hundred new entries it
        walked them all), and what was loaded is then frozen out of its sight (`gc.freeze`),
        so later collections do not walk every entry either."""
        if not bulk:
            yield
            return
        self._pages_edit = self.pages.mutate()
        collecting = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            self.pages = self._pages_edit.finish()
            self._pages_edit = None
            self._instants = {}
            self._order.end_bulk(in_order=in_order)
            self._last_updated = None
            if collecting:
                gc.freeze()
                gc.enable()

    def _outcomes(
        self,
        pending: dict[str, Signature | None],
        found: dict[str, WalkResult],
        whole: bool,
    ) -> Iterator[tuple[str, int, Article | Stored | str | None]]:
        """What each pending path is now, and its digest (0 if it was not read), read (in
        worker processes when there are many). Heads come as rows (`Stored`); whole articles,
        and rejections, as they are."""
        to_read = []
        for path, signature in pending.items():
            if signature is None:
                yield path, 0, str(found[path])
            else:
                to_read.append(path)
        unsaved = self._unsaved
        signatures = self._signatures
        for path, read, digest, result in read_many(self.root, to_read, self.settings, whole=whole):
            # What was read signs it: the walk's `stat` came before, if there was one.
            signature = read if read is not None else pending[path]
            version = hash(signature)
            unsaved.add(path)
            if read == UNSIGNED or (isinstance(result, str) and transient(result)):
                # Not signed: the next rescan reads it again (it changed while read, or the
                # reason may go away by itself).
                signatures.pop(path, None)
            elif result is not None and signature is not None and signature != UNSIGNED:
                # (UNSIGNED: refused unread, as too large; looked at again at the next rescan)
                signatures[path] = version
            yield (
                path,
                digest,
                Stored(version, *result, None, digest) if isinstance(result, tuple) else result,
            )

    def _restore(self, path: str, stored: Stored) -> str | None:
        """The fast path, in bulk mode, for a file nothing is known of yet: as the cache stored
        it (a warm start), or read by a worker. Less bookkeeping than `_settle`, and no heads
        or datetimes made and thrown away. Returns why the file is rejected, if it is."""
        self._folders.add(path)
        page = urls.article_path(path)
        assert self._pages_edit is not None
        version = stored.digest
        if stored.reason is not None or page in self._pages_edit:
            self._settle(path, stored.head(), True, version)  # a rejection, or a page clash
            return self.rejected.get(path)
        source = shared_source(stored.source)
        published = self._instants.get(stored.published)  # type: ignore[arg-type]
        if published is None:
            published = datetime.fromtimestamp(stored.published, UTC)  # type: ignore[arg-type]
            self._instants[stored.published] = published  # type: ignore[index]
        entry = Entry(
            path,
            page,
            published,
            datetime.fromtimestamp(stored.updated, UTC),  # type: ignore[arg-type]
            source,
            version,
        )
        self.entries[path] = entry
        self._pages_edit[page] = entry
        self._order.add((entry.published, entry.updated, path), source, bulk=True)
        if stored.warnings:
            self.warnings[path] = stored.stored_warnings()
        return None

    def _settle(
        self, path: str, result: Article | Head | str | None, bulk: bool, version: int
    ) -> None:
        """Make the library say what `result` says of `path`."""
        if result is None:
            self._forget(path)
            return
        if isinstance(result, str):
            self._remove_entry(path)
            self.rejected[path] = result
            return
        try:
            self._add_entry(path, result, bulk, version)
        except ArticleError as error:
            self._remove_entry(path)
            self.rejected[path] = error.reason
            return
        self.rejected.pop(path, None)

    def _folder_index(self) -> FolderIndex:
        """What is known below each folder, made now if it was put off."""
        self._folders.fill(itertools.chain(self.entries, self.rejected))
        return self._folders

    def _forget(self, path: str) -> set[str]:
        if self._signatures.pop(path, None) is not None:
            self._unsaved.add(path)
        self.rejected.pop(path, None)
        return {path} if self._remove_entry(path) else set()

    def _remove_entry(self, path: str) -> bool:
        entry = self.entries.pop(path, None)
        if entry is None:
            return False
        self._order.remove(entry.key, entry.source)
        if entry.updated == self._last_updated:
            self._last_updated = None
        if self._pages_edit is not None:
            del self._pages_edit[entry.page]
        else:
            self.pages = self.pages.delete(entry.page)
        self.warnings.pop(path, None)
        self._whole.pop(path, None)
        return True

    def _add_entry(self, path: str, result: Article | Head, bulk: bool, version: int) -> None:
        page = urls.article_path(path)
        owner = (self._pages_edit if self._pages_edit is not None else self.pages).get(page)
        if owner is not None and owner.path != path:
            # Only with `include` patterns beyond *.txt: `x` and `x.txt` would share `x.html`.
            raise ArticleError(f"its page {page} is already the page of {owner.path}")
        newest_change = self._last_updated
        self._remove_entry(path)
        source = shared_source(result.source)
        entry = Entry(path, page, result.published, result.updated, source, version)
        if newest_change is not None and entry.updated >= newest_change:
            # The newest yet; and the newest article read again (every event re-reads it)
            # stays the newest, rather than `last_updated` going through every entry to know.
            self._last_updated = entry.updated
        self.entries[path] = entry
        if self._pages_edit is not None:
            self._pages_edit[page] = entry
        else:
            self.pages = self.pages.set(page, entry)
        if result.warnings:
            self.warnings[path] = result.warnings
        self._order.add(entry.key, source, bulk=bulk)
        if bulk:  # sorted once at the end; the newest are read whole when asked for
            return
        if isinstance(result, Article) and self._order.is_among_newest(
            entry.key, self.settings.max_entries
        ):
            self._whole[path] = result

    def is_candidate_path(self, path: str) -> bool:
        """Whether a relative path could name an article (for filtering watch events)."""
        return self._candidates.is_candidate_path(path)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for a whole-folder scan: loading the cache and
    walking make two objects a file, and collections would walk them all again and again.
    What the scan kept is long-lived: frozen, later collections skip it."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.freeze()
            gc.enable()


def open_library(settings: Settings, environ: Mapping[str, str]) -> Library:
    """A library with its persistent cache, if caching is on."""
    path = cache_path(settings, environ)
    return Library(settings, ArticleCache(path, settings) if path is not None else None)


def article_loader(settings: Settings) -> Callable[[Entry], Article | None]:
    """Reads the article of an entry as the file is now (None when it is gone or broken), for
    pages built on demand; safe to use from any thread."""
    root = os.path.realpath(settings.seeds)

    def load(entry: Entry) -> Article | None:
        try:
            return read_article(root, entry.path, settings)
        except (ArticleError, NotACandidate):
            return None

    return load


_updated = attrgetter("updated")
