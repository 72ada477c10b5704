"""The single writer: one thread that owns the `Library`, applies changes and renders `Site`s.

Requests (changed paths, rescans, reloads) arrive on a queue from any thread; everything that
is pending when the thread wakes is handled as one batch, so a burst of thousands of files
costs a few renders, not thousands. Parsing and rendering never touch the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from feedd.config import Settings
from feedd.library.entries import Changes
from feedd.library.library import Library, open_library
from feedd.library.reading import display_path
from feedd.render.renderer import Renderer
from feedd.render.site import Site

log = logging.getLogger(__name__)

# After a first site taken from the cache unchecked, the rescan the caller said would come
# is made by the updater itself if it has not come by then.
_CHECK_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Update:
    """What one batch did, for the log and `/metrics`."""

    site: Site
    changed: frozenset[str]  # relative paths of the articles that came, changed or went
    new_rejections: tuple[tuple[str, str], ...]
    rescanned: bool
    first_event: float | None  # time.monotonic() of the oldest event in the batch
    relisted: bool = False  # a folder that could not be listed now can (see FolderWatcher.restart)


@dataclass(frozen=True, slots=True)
class _Paths:
    paths: frozenset[str]
    seen_at: float


@dataclass(frozen=True, slots=True)
class _Rescan:
    pass


@dataclass(frozen=True, slots=True)
class _Reload:
    settings: Settings


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Request = _Paths | _Rescan | _Reload | _Stop


@dataclass
class Updater:
    """Call `start()`, then feed it; `on_update` is called from the updater thread.

    `rescanned_soon`: the caller asks for a rescan once the first site is out (the daemon's
    watcher does, once its watches are in place). The first site may then come straight from
    the cache, unchecked, and that rescan checks it against the folder: a restart does not walk
    the folder twice. Should it not come, one is made `_CHECK_SECONDS` later."""

    settings: Settings
    on_update: Callable[[Update], object]
    rescanned_soon: bool = False
    # Called once a batch with a reload in it is done with, published or failed.
    on_reloaded: Callable[[], object] | None = None
    _queue: queue.SimpleQueue[_Request] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feedd-updater", daemon=True)
        self._thread.start()
        self.rescan()

    def changed(self, paths: Iterable[str], seen_at: float | None = None) -> None:
        self._queue.put(_Paths(frozenset(paths), seen_at or time.monotonic()))

    def rescan(self) -> None:
        self._queue.put(_Rescan())

    def reload(self, settings: Settings) -> None:
        self._queue.put(_Reload(settings))

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(_Stop())
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        library = _opened(self.settings)
        renderer = Renderer(self.settings)
        current: Site | None = None
        next_rescan = self._next_rescan()
        first = True
        while True:
            batch = self._wait(next_rescan)
            if any(isinstance(request, _Stop) for request in batch):
                library.save()
                return
            reloads = [request for request in batch if isinstance(request, _Reload)]
            try:
                if reloads:
                    self.settings = reloads[-1].settings
                    library.save()
                    library, current = open_library(self.settings, os.environ), None
                    renderer = Renderer(self.settings, renderer.served)
                rescan = bool(reloads) or any(isinstance(r, (_Rescan, type(None))) for r in batch)
                started = time.monotonic()
                paths = _union(batch)
                scan = library.scan(checked_later=first and self.rescanned_soon) if rescan else None
                changes = Changes.merged(scan, library.apply(paths) if paths else None)
                first = False
                if rescan:
                    next_rescan = self._next_rescan()
                if current is not None and not changes:
                    if rescan:  # nothing to render, but /metrics counts the rescan
                        if not current.checked and not library.unchecked:  # (nothing changed)
                            current = dataclasses.replace(current, checked=True)
                        self.on_update(Update(current, frozenset(), (), True, None))
                        library.save()
                    continue
                read = time.monotonic()
                current = renderer.site(library)
                changes = Changes.merged(changes, library.take_unreported())
                seen = [r.seen_at for r in batch if isinstance(r, _Paths)]
                log.debug(
                    "batch of %d requests: waited %.1f ms, read in %.1f ms, rendered in %.1f ms",
                    len(batch),
                    (started - min(seen)) * 1e3 if seen else 0.0,
                    (read - started) * 1e3,
                    (time.monotonic() - read) * 1e3,
                )
                self.on_update(
                    Update(
                        current,
                        changes.changed,
                        changes.new_rejections,
                        rescan,
                        min(seen) if seen else None,
                        bool(changes.relisted),
                    )
                )
                _log(changes, library, rescan)
                check_by = time.monotonic() + _CHECK_SECONDS  # counted from the site out
                if library.unchecked and (next_rescan is None or next_rescan > check_by):
                    next_rescan = check_by
                if rescan:  # published first: a cold start saves a row a file
                    library.save()
            except Exception:
                # A bug must not stop the updates: the last good site stays served. Without
                # one (nor a watcher, which starts with the first), a rescan tries again.
                log.exception("update failed; still serving the previous site")
                if current is None:
                    next_rescan = time.monotonic() + _CHECK_SECONDS
            finally:
                if reloads and self.on_reloaded is not None:
                    self.on_reloaded()

    def _wait(self, next_rescan: float | None) -> list[_Request | None]:
        """Block until something is asked (None stands for a periodic rescan), then take
        everything else already pending."""
        timeout = None if next_rescan is None else max(0.0, next_rescan - time.monotonic())
        try:
            batch: list[_Request | None] = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            batch = [None]
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch

    def _next_rescan(self) -> float | None:
        interval = self.settings.rescan_interval
        return time.monotonic() + interval if interval > 0 else None


def _opened(settings: Settings) -> Library:
    try:
        return open_library(settings, os.environ)
    except Exception:
        log.exception("cannot open the article cache; going on without it")
        return Library(settings)


def _log(changes: Changes, library: Library, rescanned: bool) -> None:
    """One line per update, then each new rejection and warning once (never at every rescan)."""
    log.info(
        "published %d articles: %d changed, %d rejected%s",
        len(library.entries),
        len(changes.changed),
        len(library.rejected),
        " (from the cache, to be checked)"
        if library.unchecked
        else " (full rescan)"
        if rescanned
        else "",
    )
    for path, reason in changes.new_rejections:
        log.warning("rejected %s: %s", display_path(path), reason)
    # Few files have warnings, and a cold start changes every path: look from the smaller side.
    for path in sorted(path for path in library.warnings if path in changes.changed):
        for warning in library.warnings[path]:
            log.warning("%s: warning: %s", display_path(path), warning)


def _union(batch: Iterable[_Request | None]) -> frozenset[str]:
    return frozenset().union(*(r.paths for r in batch if isinstance(r, _Paths)))
