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
# After a look that did not wait, a second one takes what watchfiles learnt a moment later:
# one wake-up this much later (two, if it has something), not one a millisecond while the
# publisher renders what the first look found.
_RECHECK_MS = 5
# A ring for a file being written: its writer's close, which makes it whole, usually follows
# within this long (the bell rings at the create, a moment before the write and the close).
_CLOSE_WAIT_SECONDS = 0.002


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
        if self._thread.ident is None:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
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
        """Watch until stopped, or until the watches must be set up again."""
        with _Watches(self.root, polling) as watches:
            if watches.identity is None or _identity(self.root) != watches.identity:
                # Moved while the watches were set up: they may watch nothing, or what is
                # elsewhere now, and would say nothing. (Once they are in place, they see it go.)
                log.warning("%s was removed or replaced; restarting the watcher", self.root)
                return
            log.info("watching %s for changes (%s)", self.root, watches.how(self._step_ms))
            # The watches are in place: a rescan now sees everything written before them.
            self._on_rescan()
            while not self._stop.is_set():
                changes = watches.changes(self._step_ms)
                if self._restart.is_set():
                    self._restart.clear()
                    log.info("setting the watches on %s up again", self.root)
                    return
                if changes and self._follow(changes, watches):
                    return

    def _follow(self, changes: set[tuple[int, str]], watches: _Watches) -> bool:
        """Hand `changes` on; True when the watches must be set up again."""
        seen_at = time.monotonic()
        if _identity(self.root) != watches.identity:
            log.warning("%s was removed or replaced; restarting the watcher", self.root)
            self._on_rescan()
            return True
        folder_came = any(
            change == watchfiles.Change.added and os.path.isdir(path) for change, path in changes
        )
        if folder_came:
            # Watched before the publisher lists it: what it gets after that is an event.
            changes |= watches.renew()
        paths = relative_paths(self.root, (path for _, path in changes))
        if "" in paths:
            self._on_rescan()  # an event on the root itself says nothing precise
        wanted = {path for path in paths if path and self._is_candidate(path)}
        if wanted:
            self._on_paths(wanted, seen_at)
        # A folder that came in past the watch limit is skipped silently: count again, and if
        # short, set every watch up afresh (only a shortfall then is the limit).
        if folder_came and watches.short():
            log.info("a folder is not watched; setting the watches up again")
            return True
        return False


class _Watches:
    """watchfiles on every folder of `root`, and the doorbell that says when to ask it.

    Each folder is watched on its own rather than `root` recursively: a recursive watch
    `stat`s every file to set itself up, holding the GIL (0.45 s at 100,000 files, the event
    loop stalled), where listing the folders takes a fifth of that and lets the loop run. So
    folders that come are watched by `renew`, as a recursive watch would have done."""

    def __init__(self, root: str, polling: bool) -> None:
        self.root = root
        self.polling = polling
        self.identity = _identity(root)
        self._folders = [root] if polling else _folders(root)
        self._notify = _notify(self._folders, polling)
        self.bell: Doorbell | None = None
        self._busy = False  # a burst is on: the last batch was cut at `_MAX_BATCH_MS`
        self._recheck = False  # the last look did not wait: look again without a ring
        # The paths watchfiles found in its last two looks (see `_with_lost`).
        self._found: tuple[set[str], set[str]] = (set(), set())
        try:
            if not polling:
                short = self._shortfall()  # before the doorbell takes watches of its own
                if short is not None:
                    held, folders = short
                    message = f"watching {held} of {folders} folders: inotify watch limit"
                    raise OSError(errno.ENOSPC, message)
                self.bell = Doorbell.open(root, self._folders)
        except BaseException:
            self._notify.close()
            raise

    def __enter__(self) -> _Watches:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bell is not None:
            self.bell.close()
        self._notify.close()

    def how(self, step_ms: int) -> str:
        if self.polling:
            return f"polling every {_POLL_MS} ms"
        if self.bell is not None and self.bell.complete:
            return "inotify"
        return f"inotify, looked at every {step_ms} ms"

    def changes(self, step_ms: int) -> set[tuple[int, str]]:
        """The next batch of changes, or an empty one after half a second of quiet.

        A batch ends once a step passes with no new change (or after `_MAX_BATCH_MS`). Without
        a doorbell that is all watchfiles' polling. With one, watchfiles is asked only when
        the bell rings: at once when the ring ends a change (a writer closed its file, a
        rename) and no burst is on, then once more a few milliseconds later for stragglers;
        otherwise a millisecond later. While a burst lasts (the last batch was cut at
        `_MAX_BATCH_MS`), looks are a step apart: each takes the GIL, which the event loop then
        waits for. When watchfiles has nothing after a ring, the batch is what the bell heard:
        a look that ends without a change empties watchfiles' set, and with it an event that
        came in that instant. Otherwise the bell adds only what watchfiles lost (see
        `_with_lost`): every path in a batch is read again, and a burst's files would each be
        read twice."""
        bell = self.bell
        if bell is None or not bell.complete:
            return self._look(step_ms, _STOP_CHECK_MS)
        if self._recheck:
            self._recheck = False
            return self._look(_RECHECK_MS, _RECHECK_MS)
        if not bell.wait(_STOP_CHECK_MS / 1000):
            return self._look(1, 1)  # quiet: look anyway, for whatever the bell cannot see
        heard: set[tuple[int, str]] = set()
        whole = bell.drain(heard)
        if self._busy:
            return self._with_lost(self._look(step_ms, _RING_TIMEOUT_MS), heard)
        until = time.monotonic() + _CLOSE_WAIT_SECONDS
        while not whole and (left := until - time.monotonic()) > 0 and bell.wait(left):
            whole = bell.drain(heard)
        if whole:
            self._recheck = True
            return self._with_lost(self._look(0, 1), heard)
        return self._with_lost(self._look(1, _RING_TIMEOUT_MS), heard)

    def _with_lost(
        self, found: set[tuple[int, str]], heard: set[tuple[int, str]]
    ) -> set[tuple[int, str]]:
        """What watchfiles found, and what the bell heard that watchfiles reported neither in
        this look nor in the one before (the bell is drained before a look, so it hears late
        what the look before found).

        watchfiles drops what its inotify queue lost when it overflowed, without a word, and
        its queue fills with opens too: the publisher's own reads of a burst's files. With
        10,000 files landing while the machine was busy, a burst was still not all published
        120 s later. The bell asks for no opens, and says when its own queue overflowed."""
        if not found:  # see `changes`: an event may have gone with the look that saw nothing
            return heard
        reported = self._found[0] | self._found[1]
        return found | {(change, path) for change, path in heard if path not in reported}

    def _look(self, step_ms: int, timeout_ms: int) -> set[tuple[int, str]]:
        """What watchfiles has once `step_ms` pass without a change (0: at once), or nothing
        after `timeout_ms` without any."""
        started = time.monotonic()
        changes = _batch(self._notify.watch(_MAX_BATCH_MS, step_ms, timeout_ms, None))
        self._busy = time.monotonic() - started >= _MAX_BATCH_MS / 1000
        self._found = (self._found[1], {path for _, path in changes})
        return changes

    def renew(self) -> set[tuple[int, str]]:
        """Watch the folders there are now (polling looks at them all anyway); the changes the
        old watches had seen since they were last asked."""
        if self.polling:
            return set()
        self._folders = _folders(self.root)
        fresh = _notify(self._folders, False)
        leftovers = self._notify.watch(_MAX_BATCH_MS, 1, 1, None)
        self._notify.close()
        self._notify = fresh
        return _batch(leftovers)

    def short(self) -> bool:
        """Whether fewer folders are watched than can be (past inotify's watch limit)."""
        return not self.polling and self._shortfall() is not None

    def _shortfall(self) -> tuple[int, int] | None:
        """(watches held, folders) when fewer folders are watched than can be: watchfiles, told
        to skip folders it may not read, skips the ones past the inotify watch limit as
        silently. The doorbell's watches are not counted."""
        ignore = None if self.bell is None else self.bell.fileno()
        held = _inotify_watches(ignore)
        if held is None or held >= len(self._folders):
            return None  # as many as were listed: the common case, without a walk
        return _shortfall(self.root, ignore)


def _batch(changes: set[tuple[int, str]] | str) -> set[tuple[int, str]]:
    """What `RustNotify.watch` returned, as a batch: "timeout" is an empty one."""
    return set() if isinstance(changes, str) else changes


def _folders(root: str) -> list[str]:
    """`root` and the folders below it that can be listed (links are not followed)."""
    return [folder for folder, _, _ in os.walk(root)]


def _notify(folders: list[str], polling: bool) -> RustNotify:
    """watchfiles on each of `folders`, or polling the first and all below it."""
    if polling:
        return RustNotify(folders[:1], False, True, _POLL_MS, True, True)
    return RustNotify(folders, False, False, _POLL_MS, False, True)


def _is_limit(error: Exception) -> bool:
    """An inotify limit: too many watches (ENOSPC, "limit") or instances (EMFILE)."""
    text = str(error).lower()
    return (
        "limit" in text
        or "too many open files" in text
        or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EMFILE))
    )


def _shortfall(root: str, ignore: int | None = None) -> tuple[int, int] | None:
    """(watches held, folders) when fewer folders are watched than can be, else None; the
    watches of descriptor `ignore` (the doorbell's) not counted. (Counts disagree for a moment
    while folders come and go: a shortfall must last. One created while this counts is watched
    only at the next batch: at worst, a needless restart.)"""
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
