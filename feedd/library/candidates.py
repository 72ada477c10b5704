"""Which files in the folder are article candidates, and walking the folder to find them.

Not candidates: names not matching `include`, hidden files and folders, editor and temporary
files, anything that is not a regular file (FIFOs and devices are never opened), symlinks
that resolve outside the folder, and symlink loops or links back up the tree.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator

from feedd.library.reading import UNSIGNED, Signature, inside

log = logging.getLogger(__name__)

# What the walk found at a path: a candidate file's signature, or why a folder cannot be listed.
WalkResult = Signature | str

_EDITOR_FILES = ("*~", ".#*", "*.swp", "*.swx", "*.tmp", "4913", "#*#")


def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for several shell patterns: a walk matches every name against them."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns))


_EDITOR = _any_of(_EDITOR_FILES)


class Candidates:
    """The candidate rules for the folder at the real path `root`."""

    def __init__(self, root: str, include: tuple[str, ...]) -> None:
        self.root = root
        self._include = _any_of(include)
        # The symlinks walks met inside the folder, and the path each leads to: a change to a
        # file also changes what is read through a link to it or to a folder above it.
        self.links: dict[str, str] = {}

    def walk(self, start: str, *, signed: bool = True) -> Iterator[tuple[str, WalkResult]]:
        """Candidate files under `start` (relative; "" for the root) with their signature,
        and folders that cannot be listed with the reason.

        Unsigned, plain files get `UNSIGNED` instead of a `stat` each: for a first scan with
        nothing cached, where every file is read anyway and the read signs it."""
        parts = start.split("/") if start else []
        # The folders above `start`, so a symlink back to one of them is skipped, as in a scan.
        seen = self._folders_above("/".join(parts[:-1])) if parts else set()
        if seen is None:
            return
        full = os.path.join(self.root, start)
        try:
            st = os.stat(full)
        except OSError:
            return
        real = os.path.realpath(full)
        if not inside(self.root, real):
            return
        if real != os.path.join(self.root, start):
            self._link(start, real)
        if stat.S_ISREG(st.st_mode):
            if self._candidate_name(parts[-1], is_dir=False):
                yield start, (st.st_size, st.st_mtime_ns, st.st_ino)
        elif stat.S_ISDIR(st.st_mode) and (
            not start or self._candidate_name(parts[-1], is_dir=True)
        ):
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                yield from self._walk_dir(start, seen | {key}, signed)

    def walk_paths(self, paths: Iterable[str]) -> Iterator[tuple[str, WalkResult]]:
        """What `walk` finds under each of `paths`, checking the folders above them once per
        folder: after a burst of thousands of files, a `stat` each rather than a resolution
        of each file's whole path."""
        by_folder: dict[str, list[str]] = {}
        for path in paths:
            folder, _, name = path.rpartition("/")
            by_folder.setdefault(folder, []).append(name)
        for folder, names in by_folder.items():
            checked = self._checked_folder(folder)
            for name in names:
                path = f"{folder}/{name}" if folder else name
                if checked:
                    try:
                        st = os.lstat(os.path.join(self.root, path))
                    except OSError:
                        continue  # gone: as `walk` finds nothing there
                    # A plain file in a folder inside the root is inside it too.
                    if stat.S_ISREG(st.st_mode):
                        if self._candidate_name(name, is_dir=False):
                            yield path, (st.st_size, st.st_mtime_ns, st.st_ino)
                        continue
                yield from self.walk(path)  # folders, links, and anything under a doubt

    def _checked_folder(self, folder: str) -> bool:
        """Whether `folder` passes what `walk` checks above a file in it: candidate names, no
        link back up the tree, its real path inside the root."""
        return self._folders_above(folder) is not None and inside(
            self.root, os.path.realpath(os.path.join(self.root, folder))
        )

    def _folders_above(self, folder: str) -> set[tuple[int, int]] | None:
        """The (device, inode) of the root, `folder` and each folder between; None when one
        of them has no candidate name, cannot be reached, is no folder, or is a link back up
        the tree (a scan never goes there)."""
        parts = folder.split("/") if folder else []
        if not all(self._candidate_name(part, is_dir=True) for part in parts):
            return None
        seen: set[tuple[int, int]] = set()
        for depth in range(len(parts) + 1):
            try:
                above = os.stat(os.path.join(self.root, *parts[:depth]))
            except OSError:
                return None
            key = (above.st_dev, above.st_ino)
            if key in seen or not stat.S_ISDIR(above.st_mode):
                return None
            seen.add(key)
        return seen

    def _walk_dir(
        self, relative: str, seen: set[tuple[int, int]], signed: bool
    ) -> Iterator[tuple[str, WalkResult]]:
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
                if not signed and entry.is_file(follow_symlinks=False):  # no stat: d_type says
                    if self._candidate_name(entry.name, is_dir=False):
                        yield path, UNSIGNED
                    continue
                try:
                    st = entry.stat()  # follows symlinks: their target decides
                except OSError:
                    continue  # dangling symlink or a loop
                is_dir = stat.S_ISDIR(st.st_mode)
                if not self._candidate_name(entry.name, is_dir=is_dir):
                    continue
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if not inside(self.root, real):
                        continue
                    self._link(path, real)
                if is_dir:
                    key = (st.st_dev, st.st_ino)
                    if key not in above:  # else a symlink back up the tree
                        stack.append((path, above | {key}))
                elif stat.S_ISREG(st.st_mode):
                    yield path, (st.st_size, st.st_mtime_ns, st.st_ino)

    def _link(self, path: str, real: str) -> None:
        target = os.path.relpath(real, self.root)
        if target != path:
            self.links[path] = target

    def aliases(self, paths: Iterable[str]) -> set[str]:
        """The paths that reach one of `paths` (changed files or folders) through a link."""
        found = set()
        for link, target in self.links.items():
            for path in paths:
                if path == target or path.startswith(target + "/"):
                    found.add(link + path[len(target) :])
                elif target.startswith(path + "/"):
                    found.add(link)  # a folder above what the link leads to
        return found

    def _candidate_name(self, name: str, *, is_dir: bool) -> bool:
        if name.startswith(".") or _EDITOR.match(name):
            return False
        return is_dir or self._include.match(name) is not None

    def is_candidate_path(self, path: str) -> bool:
        """Whether a relative path could name an article (for filtering watch events)."""
        parts = path.split("/")
        return all(self._candidate_name(p, is_dir=True) for p in parts[:-1]) and (
            self._candidate_name(parts[-1], is_dir=True)
        )


def walk_everything(
    root: str, include: tuple[str, ...]
) -> tuple[list[tuple[str, WalkResult]], dict[str, str]]:
    """`Candidates(root, include).walk("")`, whole, and the links it met: for a walk in
    another process."""
    candidates = Candidates(root, include)
    return list(candidates.walk("")), candidates.links
