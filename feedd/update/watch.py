"""Watch the folder with watchfiles and hand changed relative paths to the updater.

Events only say *where* to look: the library acts on what `stat` says now, so dropped or
reordered events cost nothing but latency, and a rescan catches anything missed.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import watchfiles

log = logging.getLogger(__name__)

# A batch ends once `step` milliseconds pass without a new change, or after this many, so a
# long burst still shows up while it lasts.
_MAX_BATCH_MS = 100
# How often the watcher looks up from waiting when nothing happens: a restart asked for, or
# the folder gone, is noticed within this long, and new watches rescan within this long.
_TICK_MS = 100
_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_POLL_MS = 250  # when inotify cannot be had
# inotify's queue overflows when events come faster than they are taken, and watchfiles
# drops the overflow without a word. So the folder is rescanned once a burst of at least this
# many changes is over, and when the watcher was held up this long (the process stopped or
# starved), as then it took nothing.
_BURST = 1000
_HELD_UP_SECONDS = 1.0


class FolderWatcher:
    """A thread running watchfiles on `root`; restarts it (and falls back to polling) on failure.

    Every folder is watched on its own rather than `root` recursively: a recursive watch
    `stat`s every file to set itself up, holding the GIL all the while. A folder that comes
    is watched before what is in it is handed on, as a recursive watch would have seen it."""

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
        self._said: str | None = None  # how the watcher said it watches, last it said so
        self._running = False  # the current watch is in place (it has looked once)
        self._failed = ""  # the last failure, said once however often it comes again
        self._thread = threading.Thread(target=self._run, name="feedd-watcher", daemon=True)

    def start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def restart(self) -> None:
        """Set the watches up again (within `_TICK_MS`): inotify cannot watch a folder that
        was unreadable when the watch began, so one that became readable needs this."""
        self._restart.set()

    def _run(self) -> None:
        failures = 0
        polling = False
        while not self._stop.is_set():
            if not os.path.isdir(self.root):
                log.warning("%s is missing; waiting for it to come back", self.root)
                while not self._stop.wait(0.2) and not os.path.isdir(self.root):
                    pass
                self._said = None
                continue
            self._running = False
            try:
                self._watch(polling)
                failures = 0
            except Exception as error:
                # A watch that ran, then failed (watchfiles raises for a file name that is not
                # UTF-8), is set up again at once: other files' changes must not wait. One
                # that cannot be set up is retried less and less often.
                failures = 1 if self._running else failures + 1
                self._said = None
                if not polling and _is_limit(error):
                    log.warning("inotify limit reached (%s); falling back to polling", error)
                    polling = True
                elif str(error) != self._failed:
                    log.warning("file watcher failed: %s; rescanning and restarting it", error)
                else:
                    log.debug("file watcher failed again: %s", error)
                self._failed = str(error)
                self._stop.wait(_RETRY_SECONDS[min(failures, len(_RETRY_SECONDS)) - 1])

    def _watch(self, polling: bool) -> None:
        """Watch until stopped or until the watches must be set up again.

        Each time they are set up, the folder is rescanned once they are in place: what
        was written before them, and between the old watches and the new, is found then."""
        identity = _identity(self.root)
        folders = [self.root] if polling else _folders(self.root)
        first = True
        burst = False
        looked = time.monotonic()
        for changes in watchfiles.watch(
            *folders,
            watch_filter=None,
            debounce=_MAX_BATCH_MS,
            step=self._step_ms,
            stop_event=self._stop,
            rust_timeout=_TICK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
            force_polling=polling,
            poll_delay_ms=_POLL_MS,
            recursive=polling,
        ):
            seen_at = time.monotonic()
            held_up, looked = seen_at - looked > _HELD_UP_SECONDS, seen_at
            if first:
                first = False
                self._running = True
                how = f"polling every {_POLL_MS} ms" if polling else "inotify"
                # Said once, and again after a failure: folders that come set them up too.
                level = logging.DEBUG if how == self._said else logging.INFO
                log.log(level, "watching %s for changes (%s)", self.root, how)
                self._said = how
                self._on_rescan()
            elif held_up or (burst and not changes):
                log.debug("rescanning for what inotify may have dropped meanwhile")
                burst = False
                self._on_rescan()
            burst = (burst and bool(changes)) or len(changes) >= _BURST
            if self._restart.is_set():
                self._restart.clear()
                log.info("setting the watches on %s up again", self.root)
                return
            paths = relative_paths(self.root, (path for _, path in changes))
            gone = (watchfiles.Change.deleted, self.root) in changes
            if gone or _identity(self.root) != identity:
                # Its watches may watch nothing now, or what is elsewhere.
                log.warning("%s was removed or replaced; restarting the watcher", self.root)
                self._on_rescan()  # files deleted one by one go; a folder gone keeps its site
                self._said = None
                return
            if "" in paths:
                self._on_rescan()  # an event on the folder itself says nothing precise
            wanted = {path for path in paths if self._is_candidate(path)}
            if wanted:
                self._on_paths(wanted, seen_at)
            if not polling and any(
                change == watchfiles.Change.added and os.path.isdir(path)
                for change, path in changes
            ):
                return  # a folder came: watched too, then read


def _folders(root: str) -> list[str]:
    """`root` and the folders below it that can be listed (links are not followed), however
    deeply nested: a stack, not recursion."""
    found = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                below = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        found.append(folder)
        stack.extend(below)
    return found


def _is_limit(error: Exception) -> bool:
    """An inotify limit: too many watches (ENOSPC, "limit") or instances (EMFILE)."""
    text = str(error).lower()
    return (
        "limit" in text
        or "too many open files" in text
        or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EMFILE))
    )


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
        # only anything unusual (`.` or `..` parts, another root) to `relpath`.
        rel = path[len(prefix) :] if path.startswith(prefix) else None
        if rel is None or "/." in f"/{rel}" or "//" in f"/{rel}/" or os.sep != "/":
            rel = os.path.relpath(path, root)
        if rel == ".":
            relative.add("")
        elif rel != ".." and not rel.startswith(".." + os.sep):
            relative.add(rel.replace(os.sep, "/"))
    return relative
