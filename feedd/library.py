"""The articles in the folder, keyed by relative path, and the files that were rejected and why.

It owns the rules for which files are candidates and is the only module that reads articles
from disk. `scan()` walks the whole folder; `apply(paths)` re-reads only what changed.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from feedd.article import Article, ArticleError, parse
from feedd.config import Settings

log = logging.getLogger(__name__)

# What the walk found at a path: a candidate file's `stat`, or why a folder cannot be listed.
_Found = os.stat_result | str

_EDITOR_FILES = ("*~", ".#*", "*.swp", "*.swx", "*.tmp", "4913", "#*#")


@dataclass(frozen=True, slots=True)
class Changes:
    """What one scan or apply did: the paths whose article appeared, changed or went away,
    the rejections that are new (each is reported once, not at every rescan), and the paths
    that are no longer rejected (deleted, fixed or no longer candidates), so the count of
    rejected files a site reports changes with them."""

    changed: frozenset[str]
    new_rejections: tuple[tuple[str, str], ...]
    cleared: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.changed or self.new_rejections or self.cleared)


class Library:
    """Mutable, owned by one writer (the build or the watch loop); renderers get its articles."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = os.path.realpath(settings.seeds)
        self.articles: dict[str, Article] = {}
        self.rejected: dict[str, str] = {}
        self._signatures: dict[str, tuple[int, int, int]] = {}

    def scan(self) -> Changes:
        """Walk the whole folder: read new and changed files, forget vanished ones."""
        found = dict(self._walk(""))
        known = set(self.articles) | set(self.rejected)
        return self._refresh(found, known, force=False)

    def apply(self, paths: Iterable[str]) -> Changes:
        """Re-read the given relative paths (files or folders) as they are now on disk."""
        found: dict[str, _Found] = {}
        known: set[str] = set()
        everything = set(self.articles) | set(self.rejected)
        for path in {posixpath.normpath("/" + p).strip("/") for p in paths}:
            if not path:
                return self._refresh(dict(self._walk("")), everything, force=True)
            known.update(k for k in everything if k == path or k.startswith(path + "/"))
            found.update(self._walk(path))
        return self._refresh(found, known, force=True)

    def _refresh(self, found: dict[str, _Found], known: set[str], force: bool) -> Changes:
        changed: set[str] = set()
        new_rejections: list[tuple[str, str]] = []
        cleared = {path for path in known - set(found) if path in self.rejected}
        for path in known - set(found):
            changed.update(self._forget(path))
        for path, st in sorted(found.items()):
            before = self.articles.get(path), self.rejected.get(path)
            if isinstance(st, str):  # a folder that cannot be listed
                self.rejected[path] = st
            else:
                signature = (st.st_size, st.st_mtime_ns, st.st_ino)
                if not force and self._signatures.get(path) == signature:
                    continue
                self._signatures[path] = signature
                self._read(path)
            after = self.articles.get(path), self.rejected.get(path)
            if after[1] is not None and after[1] != before[1]:
                new_rejections.append((path, after[1]))
            elif after[1] is None and before[1] is not None:
                cleared.add(path)
            if after[0] != before[0]:
                changed.add(path)
        return Changes(frozenset(changed), tuple(new_rejections), frozenset(cleared))

    def _forget(self, path: str) -> set[str]:
        self._signatures.pop(path, None)
        self.rejected.pop(path, None)
        return {path} if self.articles.pop(path, None) is not None else set()

    def _read(self, path: str) -> None:
        try:
            raw, mtime = self._read_bytes(path)
            _check_name(path)
            article = parse(path, raw, mtime=mtime, tz=self.settings.tz)
        except _NotACandidate:
            self._forget(path)
            return
        except ArticleError as error:
            self.articles.pop(path, None)
            self.rejected[path] = error.reason
            return
        self.rejected.pop(path, None)
        self.articles[path] = article

    def _read_bytes(self, path: str) -> tuple[bytes, float]:
        """Read at most `max_article_bytes` + 1 bytes, never blocking on a FIFO or device."""
        limit = self.settings.max_article_bytes
        full = os.path.join(self.root, path)
        try:
            real = os.path.realpath(full)
            if not _inside(self.root, real):
                raise _NotACandidate
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                raise _NotACandidate from None
            raise ArticleError(f"cannot read: {error.strerror}") from None
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _NotACandidate
            if st.st_size > limit:
                raise ArticleError(f"larger than max_article_bytes ({st.st_size} > {limit} bytes)")
            try:
                raw = file.read(limit + 1)
            except OSError as error:
                raise ArticleError(f"cannot read: {error.strerror}") from None
        if len(raw) > limit:
            raise ArticleError(f"larger than max_article_bytes (over {limit} bytes)")
        return raw, st.st_mtime

    def _walk(self, start: str) -> Iterator[tuple[str, _Found]]:
        """Candidate files under `start` (relative; "" for the root) with their `stat`, and
        folders that cannot be listed with the reason."""
        parts = start.split("/") if start else []
        if not all(self._candidate_name(part, is_dir=True) for part in parts[:-1]):
            return
        # The folders above `start`, so a symlink back to one of them is skipped, as in a scan.
        seen: set[tuple[int, int]] = set()
        for depth in range(len(parts)):
            try:
                above = os.stat(os.path.join(self.root, *parts[:depth]))
            except OSError:
                return
            key = (above.st_dev, above.st_ino)
            if key in seen:  # under a symlink back up the tree: a scan never goes there
                return
            seen.add(key)
        full = os.path.join(self.root, start)
        try:
            st = os.stat(full)
        except OSError:
            return
        if not _inside(self.root, os.path.realpath(full)):
            return
        if stat.S_ISREG(st.st_mode):
            if self._candidate_name(parts[-1], is_dir=False):
                yield start, st
        elif stat.S_ISDIR(st.st_mode) and (
            not start or self._candidate_name(parts[-1], is_dir=True)
        ):
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                yield from self._walk_dir(start, seen | {key})

    def _walk_dir(self, relative: str, seen: set[tuple[int, int]]) -> Iterator[tuple[str, _Found]]:
        # A stack, not recursion: a folder nested a few thousand deep must not end the walk.
        stack = [(relative, frozenset(seen))]
        while stack:
            folder, above = stack.pop()
            try:
                entries = list(os.scandir(os.path.join(self.root, folder)))
            except OSError as error:
                log.debug("cannot list %s: %s", folder or self.root, error.strerror)
                yield folder or ".", f"cannot list folder: {error.strerror}"
                continue
            for entry in entries:
                path = f"{folder}/{entry.name}" if folder else entry.name
                try:
                    st = entry.stat()  # follows symlinks: their target decides
                except OSError:
                    continue  # dangling symlink or a loop
                is_dir = stat.S_ISDIR(st.st_mode)
                if not self._candidate_name(entry.name, is_dir=is_dir):
                    continue
                if entry.is_symlink() and not _inside(self.root, os.path.realpath(entry.path)):
                    continue
                if is_dir:
                    key = (st.st_dev, st.st_ino)
                    if key not in above:  # else a symlink back up the tree
                        stack.append((path, above | {key}))
                elif stat.S_ISREG(st.st_mode):
                    yield path, st

    def _candidate_name(self, name: str, *, is_dir: bool) -> bool:
        if name.startswith(".") or any(fnmatch.fnmatchcase(name, p) for p in _EDITOR_FILES):
            return False
        return is_dir or any(fnmatch.fnmatchcase(name, p) for p in self.settings.include)

    def is_candidate_path(self, path: str) -> bool:
        """Whether a relative path could name an article (for filtering watch events)."""
        parts = path.split("/")
        return all(self._candidate_name(p, is_dir=True) for p in parts[:-1]) and (
            self._candidate_name(parts[-1], is_dir=True)
        )


class _NotACandidate(Exception):
    """The path vanished or turned into something that is not an article candidate."""


# Characters a path cannot carry into a URL, an id or one line of `feedd check`: lone surrogates
# (bytes of a name that is not UTF-8, as Python decodes them), C0 and C1 controls, DEL.
_BAD_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_name(path: str) -> None:
    bad = _BAD_NAME.search(path)
    if bad is None:
        return
    if "\ud800" <= bad.group() <= "\udfff":
        raise ArticleError("file name is not valid UTF-8")
    raise ArticleError("file name contains control characters")


def display_path(path: str) -> str:
    """`path` on one printable line: bytes that are not UTF-8 and control characters escaped."""
    return _BAD_NAME.sub(lambda m: _escape(m.group()), path)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def _inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")
