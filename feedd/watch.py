"""Watch the folder with watchfiles and hand changed relative paths to the publisher.

Events only say *where* to look: the library acts on what `stat` says now, so dropped or
reordered events cost nothing but latency, and the periodic rescan catches anything missed.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import watchfiles
from watchfiles._rust_notify import RustNotify

from feedd.doorbell import Doorbell

log = logging.getLogger(__name__)

# Once a change is seen, batches are cut after `step` quiet milliseconds, and at the latest
# after this many, so a long burst still shows up while it lasts.
_MAX_BATCH_MS = 100
_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_STOP_CHECK_MS = 500
_POLL_MS = 250  # when inotify cannot be had
# How long a ring waits for watchfiles to have the change: it reads its own inotify descriptor,
# so it may learn of an event a moment after the bell (a ring it already reported ends here).
_RING_TIMEOUT_MS = 20


class FolderWatcher:
    """A thread running watchfiles on `root`; restarts it (and falls back to polling) on failure."""

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
        self._thread = threading.Thread(target=self._run, name="feedd-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def restart(self) -> None:
        """Set the watches up again (within `_STOP_CHECK_MS`): inotify cannot watch a folder
        that was unreadable when the watch began, so one that became readable needs this."""
        self._restart.set()

    def _run(self) -> None:
        failures = 0
        polling = False
        while not self._stop.is_set():
            if not os.path.isdir(self.root):
                log.warning("%s is missing; waiting for it to come back", self.root)
                while not self._stop.wait(0.2) and not os.path.isdir(self.root):
                    pass
                continue  # it is back: the new watch rescans once it is in place
            try:
                self._watch(polling)
                failures = 0
            except Exception as error:
                failures += 1
                if not polling and _is_limit(error):
                    log.warning("inotify limit reached (%s); falling back to polling", error)
                    polling = True
                else:
                    log.warning("file watcher failed: %s; rescanning and restarting it", error)
                self._stop.wait(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS)) - 1])

    def _watch(self, polling: bool) -> None:
        """Watch until stopped, or until the root itself goes away (its watch dies with it)."""
        with RustNotify([self.root], False, polling, _POLL_MS, True, True) as notify:
            identity = _identity(self.root)
            if not polling:
                _check_watches(self.root)
            bell = None if polling else Doorbell.open(self.root)
            how = (
                f"polling every {_POLL_MS} ms"
                if polling
                else "inotify"
                if bell is not None and bell.complete
                else f"inotify, looked at every {self._step_ms} ms"
            )
            log.info("watching %s for changes (%s)", self.root, how)
            try:
                # The watches are in place: a rescan now sees everything written before them.
                self._on_rescan()
                busy = False
                while not self._stop.is_set():
                    looked = time.monotonic()
                    changes = self._changes(notify, bell, busy)
                    busy = time.monotonic() - looked >= _MAX_BATCH_MS / 1000
                    if self._follow(changes, identity, polling, bell):
                        return
            finally:
                if bell is not None:
                    bell.close()

    def _changes(
        self, notify: RustNotify, bell: Doorbell | None, busy: bool
    ) -> set[tuple[int, str]]:
        """The next batch of changes, or an empty one after half a second of quiet.

        A batch ends once a step passes with no new change (or after `_MAX_BATCH_MS`). Without
        a doorbell that is all watchfiles' polling; with one, it is asked only when the bell
        rings, and looks a millisecond later rather than a step. Not while a burst lasts
        (`busy`: the last batch was cut at `_MAX_BATCH_MS`): each look takes the GIL, which the
        event loop then waits for."""
        if bell is None or not bell.complete:
            changes = notify.watch(_MAX_BATCH_MS, self._step_ms, _STOP_CHECK_MS, None)
        elif bell.wait(_STOP_CHECK_MS / 1000):
            bell.drain()
            step = self._step_ms if busy else 1
            changes = notify.watch(_MAX_BATCH_MS, step, _RING_TIMEOUT_MS, None)
        else:  # quiet for half a second: look anyway, for whatever the bell cannot see
            changes = notify.watch(_MAX_BATCH_MS, 1, 1, None)
        return set() if isinstance(changes, str) else changes  # "timeout"

    def _follow(
        self,
        changes: set[tuple[int, str]],
        identity: tuple[int, int] | None,
        polling: bool,
        bell: Doorbell | None,
    ) -> bool:
        """Hand `changes` on; True when the watches must be set up again."""
        if self._restart.is_set():
            self._restart.clear()
            log.info("setting the watches on %s up again", self.root)
            return True
        if not changes:
            return False
        seen_at = time.monotonic()
        if _identity(self.root) != identity:
            log.warning("%s was removed or replaced; restarting the watcher", self.root)
            self._on_rescan()
            return True
        paths = relative_paths(self.root, (path for _, path in changes))
        if "" in paths:
            self._on_rescan()  # an event on the root itself says nothing precise
        wanted = {path for path in paths if path and self._is_candidate(path)}
        if wanted:
            self._on_paths(wanted, seen_at)
        # A folder that came in past the watch limit is skipped as silently as at the start;
        # and notify loses the watch of a folder renamed into one it is still walking. Count
        # again (a walk, but only when a folder arrives); if short, set every watch up afresh:
        # only a shortfall then is the limit.
        folder_came = any(
            change == watchfiles.Change.added and os.path.isdir(path) for change, path in changes
        )
        ignore = None if bell is None else bell.fileno()
        if not polling and folder_came and _shortfall(self.root, ignore) is not None:
            log.info("a folder is not watched; setting the watches up again")
            return True
        return False


def _is_limit(error: Exception) -> bool:
    """An inotify limit: too many watches (ENOSPC, "limit") or instances (EMFILE)."""
    text = str(error).lower()
    return (
        "limit" in text
        or "too many open files" in text
        or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EMFILE))
    )


def _check_watches(root: str) -> None:
    """Raise if fewer folders are watched than can be: watchfiles, told to skip folders it may
    not read, skips the ones past the inotify watch limit as silently."""
    short = _shortfall(root)
    if short is not None:
        held, folders = short
        raise OSError(errno.ENOSPC, f"watching {held} of {folders} folders: inotify watch limit")


def _shortfall(root: str, ignore: int | None = None) -> tuple[int, int] | None:
    """(watches held, folders) when fewer folders are watched than can be, else None; the
    watches of descriptor `ignore` (the doorbell's) not counted. (Folders created while this
    counts are watched a moment later: a shortfall must last.)"""
    for attempt in range(3):
        held = _inotify_watches(ignore)
        if held is None:
            return None  # not Linux, or no /proc: nothing to compare with
        folders = sum(1 for _ in os.walk(root))  # the readable ones, as inotify can watch
        if held >= folders:
            return None
        time.sleep(0.05 * 2**attempt)  # 50, 100, 200 ms
    return held, folders


def _inotify_watches(ignore: int | None = None) -> int | None:
    """How many inotify watches this process holds (from /proc/self/fdinfo), but for `ignore`."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    held = 0
    for fd in fds:
        if fd == str(ignore):
            continue
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                held += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:
            continue
    return held


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def relative_paths(root: str, paths: Iterable[str]) -> set[str]:
    """Paths relative to `root` with `/` separators ("" for the root itself); others dropped."""
    prefix = os.path.join(root, "")
    relative = set()
    for path in paths:
        # What watchfiles reports is the root joined with names: cut the root off, and leave
        # only anything unusual (`.` or `..` parts, another root) to `relpath`, 20 times slower.
        rel = path[len(prefix) :] if path.startswith(prefix) else None
        if rel is None or "/." in f"/{rel}" or "//" in f"/{rel}/" or os.sep != "/":
            rel = os.path.relpath(path, root)
        if rel == ".":
            relative.add("")
        elif rel != ".." and not rel.startswith(".." + os.sep):
            relative.add(rel.replace(os.sep, "/"))
    return relative
