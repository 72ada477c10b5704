"""Linux inotify as a doorbell: it says *that* something changed under a folder, when it does.

watchfiles says *what* changed, but its loop can only poll for it: it sleeps a step between
looks, and reports a change once a whole step passed without another. An idle daemon paid
about 1.2% of a core for those wake-ups, and an event waited one and a half steps. A doorbell's
descriptor waits in `poll` at no cost, and the watcher asks watchfiles only when it rings.

The bell also says where, as watchfiles would: when watchfiles has nothing after a ring, the
watcher reports that instead, as a look at watchfiles that ends without a change empties its
set, an event that came in that very instant included. A ring missed costs latency (the
watcher looks every half second anyway), never a change.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import struct
from collections.abc import Iterable

from watchfiles import Change

log = logging.getLogger(__name__)

# What notify (watchfiles' backend) asks the kernel for, so the bell rings whenever it learns
# something: modify, attrib, close_write, moved_from/to, create, delete, delete_self, move_self.
# Not open, which notify asks for too (its mask is 0xfee): every read of a file, feedd's own
# included, would ring, and watchfiles reports no change for it.
_MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
_IN_ONLYDIR = 0x01000000
_IN_DONTFOLLOW = 0x02000000
_IN_CREATE_OR_MOVED_TO = 0x100 | 0x80
_IN_DELETE_OR_MOVED_FROM = 0x200 | 0x40
# Events that end a change: a file closed after writing, renamed, deleted, its times or mode
# set. A create or a write alone means a writer may still be at it.
_WHOLE = 0x4 | 0x8 | 0x40 | 0x80 | 0x200 | 0x400 | 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name


class Doorbell:
    """One inotify instance watching `root` and every folder below it, for `wait` to block on.

    `complete` turns False when a folder could not be watched for lack of inotify watches: the
    bell would stay silent for it, so the watcher goes back to polling."""

    def __init__(self, root: str, folders: Iterable[str]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self._fd = fd
        self._poll = select.poll()  # not select(): a restart may get a descriptor past 1023
        self._poll.register(fd, select.POLLIN)
        self._root = os.fsencode(root)
        self.complete = True
        self._folders: dict[int, bytes] = {}  # watch descriptor -> folder
        for folder in folders:
            self._watch(os.fsencode(folder))

    @classmethod
    def open(cls, root: str, folders: Iterable[str]) -> Doorbell | None:
        """A doorbell on `folders` (`root` and those below it), or None where inotify cannot
        be had (not Linux, no instance left): the watcher then polls, as it always could."""
        try:
            return cls(root, folders)
        except (OSError, AttributeError) as error:
            log.debug("no inotify doorbell for %s (%s); polling", root, error)
            return None

    def fileno(self) -> int:
        return self._fd

    def wait(self, timeout: float) -> bool:
        """Whether it rang within `timeout` seconds."""
        return bool(self._poll.poll(timeout * 1000))

    def drain(self, heard: set[tuple[int, str]]) -> bool:
        """Take every pending event into `heard`, as watchfiles reports changes (the root
        itself after an overflow: everything may have changed); watch the folders that came.
        Whether any event ended a change (see `_WHOLE`): what a writer closed can be read."""
        whole = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return whole
            offset = 0
            while offset < len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + size].rstrip(b"\0")
                offset += _EVENT.size + size
                whole = whole or bool(mask & _WHOLE)
                if mask & _IN_Q_OVERFLOW:
                    heard.add((Change.modified, os.fsdecode(self._root)))
                    self._watch_tree(self._root)  # folders may have come unseen
                elif mask & _IN_IGNORED:
                    self._folders.pop(wd, None)
                elif wd in self._folders:
                    path = os.path.join(self._folders[wd], name) if name else self._folders[wd]
                    heard.add((_change(mask), os.fsdecode(path)))
                    if mask & _IN_ISDIR and mask & _IN_CREATE_OR_MOVED_TO:
                        self._watch_tree(path)

    def close(self) -> None:
        os.close(self._fd)

    def _watch_tree(self, top: bytes) -> None:
        """Watch `top` and the folders below it (a folder moved in brings its own; one moved
        within the tree keeps its watch, which is mapped to its new path)."""
        for folder, _, _ in os.walk(top):
            if not self._watch(folder):
                return

    def _watch(self, folder: bytes) -> bool:
        """Watch `folder`; False once inotify has no watch left."""
        # The root may be a link to where the articles are; nothing below it is followed.
        flags = _MASK | _IN_ONLYDIR | (0 if folder == self._root else _IN_DONTFOLLOW)
        wd = self._add_watch(self._fd, folder, flags)
        if wd >= 0:
            self._folders[wd] = folder
        elif ctypes.get_errno() == errno.ENOSPC:
            log.debug("no inotify watch left for %s; polling", os.fsdecode(folder))
            self.complete = False
            return False
        return True


def _change(mask: int) -> Change:
    """The watchfiles change an event is."""
    if mask & _IN_CREATE_OR_MOVED_TO:
        return Change.added
    if mask & _IN_DELETE_OR_MOVED_FROM:
        return Change.deleted
    return Change.modified
