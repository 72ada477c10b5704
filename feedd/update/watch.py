"""Watch the folder with inotify and hand changed relative paths to the updater.

Events only say *where* to look: the library acts on what `stat` says now, so dropped or
reordered events cost nothing but latency, and a rescan catches anything missed.

inotify is read through inotify_simple, a thin wrapper of its three system calls: the thread
sleeps in `poll` until something happens (or twice a second, to look at the root), so a
waiting daemon costs next to nothing and a change is seen at once.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from inotify_simple import INotify, flags

log = logging.getLogger(__name__)

# What is asked of inotify: every change to a name or its bytes, never opens or reads (the
# updater's own reads would fill the queue).
_MASK = (
    flags.CREATE
    | flags.DELETE
    | flags.MODIFY
    | flags.CLOSE_WRITE
    | flags.ATTRIB
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.DELETE_SELF
    | flags.MOVE_SELF
    | flags.ONLYDIR
    | flags.DONT_FOLLOW
)
# A batch ends once `step` milliseconds pass without a new event, or after this many, so a long
# burst still shows up while it lasts.
_MAX_BATCH_MS = 100
# How often a waiting watcher looks whether the folder was replaced under it unannounced.
_TICK_MS = 500
_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_POLL_SECONDS = 1.0  # past inotify's limits: a rescan this often...
_POLL_FOR_SECONDS = 60.0  # ...until inotify is tried again (a limit raised, watches freed)
_REPLACED = "%s was removed or replaced; restarting the watcher"


class _Restart(Exception):
    """The watches must be set up again (and the folder rescanned once they are)."""


class FolderWatcher:
    """A thread watching every folder of `root`; restarts it on failure, and falls back to
    rescanning every second past inotify's limits."""

    def __init__(
        self,
        root: str,
        step_ms: int,
        *,
        on_paths: Callable[[set[str], float], None],
        on_rescan: Callable[[], None],
        is_candidate: Callable[[str], bool],
    ) -> None:
        self.root = root
        self._step_ms = max(1, step_ms)
        self._on_paths = on_paths
        self._on_rescan = on_rescan
        self._is_candidate = is_candidate
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)  # a stop or restart
        self._waking = threading.Lock()  # `_wake` is not written to once closed
        self._said = False  # whether it said it watches, since it last failed
        self._polling = False  # past inotify's limits
        self._thread = threading.Thread(target=self._run, name="feedd-watcher", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._waking:
            if self._stop.is_set():
                return
            self._stop.set()
            os.eventfd_write(self._wake, 1)
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if not self._thread.is_alive():
            with self._waking:
                os.close(self._wake)

    def restart(self) -> None:
        """Set the watches up again: inotify cannot watch a folder that was unreadable when
        the watch began, so one that became readable needs this."""
        with self._waking:
            if self._stop.is_set():
                return
            self._restart.set()
            os.eventfd_write(self._wake, 1)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not os.path.isdir(self.root):
                log.warning("%s is missing; waiting for it to come back", self.root)
                while not self._stop.wait(0.2) and not os.path.isdir(self.root):
                    pass
                self._said = False
                continue
            try:
                self._watch()
                failures = 0
            except Exception as error:
                failures += 1
                self._said = False
                if _is_limit(error):
                    if not self._polling:  # (said once, not at every try)
                        log.warning("inotify limit reached (%s); falling back to polling", error)
                    self._polling = True
                    self._poll()
                    continue
                log.warning("file watcher failed: %s; rescanning and restarting it", error)
                self._stop.wait(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS)) - 1])

    def _watch(self) -> None:
        """Watch until stopped or until the watches must be set up again; the folder is
        rescanned once they are in place, which finds what was written before them."""
        with INotify() as inotify:
            watches = _Watches(inotify, self.root)
            identity = _identity(self.root)
            watches.add_tree("")
            if not self._said:
                log.info("watching %s for changes (inotify)", self.root)
                self._said = True
            self._polling = False
            self._on_rescan()
            try:
                while not self._stop.is_set():
                    events = self._read(inotify)
                    if self._restart.is_set():
                        self._restart.clear()
                        log.info("setting the watches on %s up again", self.root)
                        return
                    if not events:
                        if _identity(self.root) != identity:  # replaced, unannounced
                            log.warning(_REPLACED, self.root)
                            raise _Restart
                        continue
                    seen_at = time.monotonic()
                    self._follow(watches, _batch(inotify, events, self._step_ms), seen_at)
            except _Restart:
                log.debug("setting the watches on %s up again", self.root)

    def _read(self, inotify: INotify) -> list[Any]:
        """The events there are, once there are any, a stop or restart is asked for, or
        `_TICK_MS` pass."""
        poller = select.poll()
        poller.register(inotify.fileno(), select.POLLIN)
        poller.register(self._wake, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(_TICK_MS)}
        if self._wake in ready:
            os.eventfd_read(self._wake)
        return inotify.read(timeout=0) if inotify.fileno() in ready else []

    def _follow(self, watches: _Watches, events: list[Any], seen_at: float) -> None:
        """Hand on what `events` name; raises `_Restart` when the watches no longer match the
        folders (the root replaced, a folder moved)."""
        paths: set[str] = set()
        came: list[str] = []
        rescan = False
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                rescan = True  # inotify dropped events: which, nobody knows
                continue
            folder = watches.folder(event.wd)
            if folder is None:
                continue
            if event.mask & flags.IGNORED:
                watches.forget(event.wd)
                continue
            if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF):
                if folder == "":
                    log.warning(_REPLACED, self.root)
                    self._said = False
                    self._on_rescan()  # files deleted one by one go; a folder gone keeps its site
                    raise _Restart
                continue
            path = f"{folder}/{event.name}" if folder and event.name else folder or event.name
            if event.mask & flags.ISDIR:
                if event.mask & flags.MOVED_FROM:
                    # Its watches, and those below it, now watch what is elsewhere.
                    self._on_paths({path}, seen_at)
                    raise _Restart
                if event.mask & (flags.CREATE | flags.MOVED_TO):
                    came.append(path)
            paths.add(path)
        for folder in came:
            watches.add_tree(folder)  # watched before it is read: what comes after is an event
        wanted = {path for path in paths if self._is_candidate(path)}
        if wanted:
            self._on_paths(wanted, seen_at)
        if rescan:
            log.debug("inotify's queue overflowed; rescanning")
            self._on_rescan()

    def _poll(self) -> None:
        """Rescan every `_POLL_SECONDS` until stopped, a restart is asked for, or it is time
        to try inotify again."""
        until = time.monotonic() + _POLL_FOR_SECONDS
        while not self._stop.wait(_POLL_SECONDS):
            if self._restart.is_set():
                self._restart.clear()
                return
            self._on_rescan()
            if time.monotonic() > until:
                return


def _batch(inotify: INotify, events: list[Any], step_ms: int) -> list[Any]:
    """`events` and those that follow, until `step_ms` pass without one about a path not
    already in the batch (a file written on and on is one change), or `_MAX_BATCH_MS` pass."""
    until = time.monotonic() + _MAX_BATCH_MS / 1000
    about = {(event.wd, event.name) for event in events}
    while time.monotonic() < until:
        more = inotify.read(timeout=step_ms)
        events += more
        new = {(event.wd, event.name) for event in more} - about
        if not new:
            return events
        about |= new
    return events


class _Watches:
    """inotify's watch descriptors and the folders (relative to the root) they watch."""

    def __init__(self, inotify: INotify, root: str) -> None:
        self._inotify = inotify
        self._root = root
        self._folders: dict[int, str] = {}

    def add_tree(self, top: str) -> None:
        """Watch `top` and every folder below it that can be listed (links are not followed),
        however deeply nested: a stack, not recursion."""
        stack = [top]
        while stack:
            folder = stack.pop()
            full = os.path.join(self._root, folder) if folder else self._root
            try:
                wd = self._inotify.add_watch(full, _MASK)
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EMFILE):
                    raise
                continue  # gone, not a folder, or unreadable: what lists it says why
            self._folders[wd] = folder
            try:
                with os.scandir(full) as entries:
                    below = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            stack.extend(f"{folder}/{name}" if folder else name for name in below)

    def folder(self, wd: int) -> str | None:
        return self._folders.get(wd)

    def forget(self, wd: int) -> None:
        self._folders.pop(wd, None)


def _is_limit(error: Exception) -> bool:
    """An inotify limit: too many watches (ENOSPC) or instances (EMFILE)."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EMFILE)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
