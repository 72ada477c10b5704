"""Write a `Site` to a folder so that a reader of it (nginx, rsync) never sees a half-written file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feedd import urls
from feedd.render.listings import on_demand_feeds
from feedd.render.site import Resource, Site

if TYPE_CHECKING:
    from feedd.library.entries import Entry

log = logging.getLogger(__name__)

# The files the last write produced, so the next one removes what is no longer published and
# never touches anything else in the folder.
MANIFEST = ".feedd-manifest"


def _is_listing(path: str) -> bool:
    """The feeds, the index, the archive, the OPML: every document but the article pages.
    They are written after every article page, so they never link to a page that is not
    there yet, and replaced together: a failure while they are written replaces none."""
    return not path.startswith(urls.ARTICLES)


# Each file is written under a temporary name beside it, then renamed over it. A write that
# was killed leaves these behind; the next one removes them (and nothing else).
_TEMPORARY_PREFIX, _TEMPORARY_SUFFIX = ".feedd-", ".tmp"


@dataclass(frozen=True, slots=True)
class WriteStats:
    written: int
    unchanged: int
    removed: int


def file_name(path: str) -> str:
    """The file that holds the document at URL `path`, relative to the output folder."""
    return "index.html" if path == urls.INDEX else path.lstrip("/")


def write_site(
    site: Site,
    out: Path,
    render_page: Callable[[Entry], Resource | None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    render_listing: Callable[[str], Resource | None] | None = None,
) -> WriteStats:
    """Write every document and its `.gz` beside it, each by an atomic rename; remove stale
    files. Unchanged files are left alone, so their mtime (and nginx's ETag) stays.

    Pages the site builds on demand (`site.pages`) are built one at a time by `render_page`,
    so a large site is never held in memory at once. Article pages go first and the feeds and
    the index last, all of those replaced at once, so a reader never follows a link to a page
    that is not there yet; on an error (a full disk, say) they all still describe the previous
    site. A write that was killed leaves only whole files under their own names, and its
    temporary files are removed by the next one. One write at a time per folder.
    """
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    with _locked(root):
        return _write(site, root, render_page, progress, render_listing)


def _write(
    site: Site,
    root: Path,
    render_page: Callable[[Entry], Resource | None] | None,
    progress: Callable[[int, int], None] | None,
    render_listing: Callable[[str], Resource | None] | None = None,
) -> WriteStats:
    previous = _read_manifest(root)
    # The feeds built on demand (archive pages, sources' feeds) are written one at a time
    # like the pages, before the main documents that link to them.
    on_demand = on_demand_feeds(site) if render_listing is not None else []
    paths = sorted(
        [*site.resources, *(site.pages if render_page else ()), *on_demand],
        key=lambda path: (path in site.resources and _is_listing(path), path),
    )
    for path in paths:
        name = file_name(path)
        if not _is_safe_name(name) or not (root / name).resolve().is_relative_to(root):
            raise ValueError(f"refusing to write {path!r} outside {root}")
    wanted = {file_name(path) + suffix for path in paths for suffix in ("", ".gz")}
    _remove_temporaries(root, previous | wanted)
    # Everything this write may leave behind is listed before it is written, so files from a
    # write that failed half-way are still removed by the next one.
    _replace_changed([(root / MANIFEST, _manifest(previous | wanted))])
    written = unchanged = 0
    last: list[tuple[Path, bytes]] = []
    folders: set[Path] = set()  # where pages were replaced, synced before the feeds are
    for done, path in enumerate(paths, 1):
        if progress is not None and (done % 1000 == 0 or done == len(paths)):
            progress(done, len(paths))
        resource = site.resources.get(path)
        if resource is None and render_page is not None and path in site.pages:
            resource = render_page(site.pages[path])
        elif resource is None and render_listing is not None:
            resource = render_listing(path)
        if resource is None:  # the article went away while the site was written
            wanted -= {file_name(path), file_name(path) + ".gz"}
            continue
        target = root / file_name(path)
        files = [(target, resource.body), (target.with_name(target.name + ".gz"), resource.gzipped)]
        if path in site.resources and _is_listing(path):
            last += files
            continue
        replaced = _replace_changed(files)
        written, unchanged = written + replaced, unchanged + len(files) - replaced
        if replaced:
            folders.add(target.parent)
    # After a power cut too, the feeds never link to a page whose new name was not on disk.
    _sync(folders)
    replaced = _replace_changed(last)
    written, unchanged = written + replaced, unchanged + len(last) - replaced
    _sync({root})
    removed = _remove_stale(root, previous - wanted)
    try:
        _replace_changed([(root / MANIFEST, _manifest(wanted))])
    except OSError as error:  # the site is whole; the listing keeps a few names too many
        log.warning("cannot update %s: %s; the next write will", MANIFEST, error)
    return WriteStats(written, unchanged, removed)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One write at a time per folder: a second one would take the first one's temporary files
    for leftovers. A file system without `flock` is written unlocked."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(
                errno.EBUSY, "another feedd build is writing this folder", str(root)
            ) from None
        except OSError as error:
            log.debug("cannot lock %s (%s); writing unlocked", root, error.strerror)
        yield
    finally:
        os.close(fd)


def _replace_changed(files: list[tuple[Path, bytes]]) -> int:
    """Write each file whose content changed under a temporary name, then rename them all into
    place; returns how many were replaced. Until every one is written whole (and synced),
    none is replaced, so a full disk or a file size limit leaves all of them as they were."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, data in files:
            if not _unchanged(target, data):
                staged.append((_stage(target, data), target))
        replaced = len(staged)
        while staged:
            temporary, target = staged[-1]
            os.replace(temporary, target)
            staged.pop()
    except OSError as error:
        # Name the file that could not be written, not its temporary name (a failed write()
        # names none at all).
        raise OSError(error.errno, error.strerror, str(target)) from error
    finally:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
    return replaced


def _sync(folders: set[Path]) -> None:
    """Make the renames in `folders` durable (a file's own fsync does not cover its name)."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        except OSError as error:
            if error.errno != errno.EINVAL:  # a file system that cannot sync a folder
                raise OSError(error.errno, error.strerror, str(folder)) from error
        finally:
            os.close(fd)


def _unchanged(target: Path, data: bytes) -> bool:
    try:
        return target.stat().st_size == len(data) and target.read_bytes() == data
    except OSError:
        return False


def _stage(target: Path, data: bytes) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(_TEMPORARY_SUFFIX, _TEMPORARY_PREFIX, target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def _remove_temporaries(root: Path, names: set[str]) -> None:
    """Remove the temporary files a killed write left in the folders it wrote to (every one
    of them holds a name of its manifest, written before anything else)."""
    removed = 0
    for folder in {root, *((root / name).parent for name in names)}:
        try:
            if not folder.resolve().is_relative_to(root):
                continue
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(_TEMPORARY_PREFIX) and entry.name.endswith(_TEMPORARY_SUFFIX):
                try:
                    if entry.is_file(follow_symlinks=False):
                        os.unlink(entry.path)
                        removed += 1
                except OSError as error:
                    log.warning("cannot remove %s: %s", entry.path, error.strerror)
    if removed:
        log.info("removed %d temporary files left by an interrupted write", removed)


def _read_manifest(root: Path) -> set[str]:
    try:
        data = (root / MANIFEST).read_bytes()
    except OSError:
        return set()
    try:
        names = json.loads(data)
    except ValueError:  # the first format: one name a line
        names = data.decode("utf-8", "replace").split("\n")
    if not isinstance(names, list):
        return set()
    return {name for name in names if isinstance(name, str) and _is_safe_name(name)}


def _manifest(names: set[str]) -> bytes:
    # A JSON list, not one name a line: a file name may hold a newline or U+2028.
    return json.dumps(sorted(names), indent=0).encode() + b"\n"


def _is_safe_name(name: str) -> bool:
    return not name.startswith("/") and all(p not in ("", ".", "..") for p in name.split("/"))


def _remove_stale(root: Path, stale_names: set[str]) -> int:
    """Remove files an earlier write made that are no longer published; nothing else."""
    removed = 0
    for name in sorted(stale_names):
        stale = root / name
        try:
            if not stale.parent.resolve().is_relative_to(root) or not stale.is_file():
                continue
            if stale.is_symlink():
                continue  # not one of ours: feedd only writes regular files
            stale.unlink()
        except OSError as error:
            log.warning("cannot remove stale %s: %s", stale, error.strerror)
            continue
        removed += 1
        _remove_empty_parents(stale.parent, root)
    return removed


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


# For `serve --publish` (mirror.py), which writes a few files at a time once the whole site is
# written: the same atomic replacement, manifest and removal as a whole write.


def write_files(root: Path, documents: list[tuple[str, Resource]]) -> int:
    """Replace the files of `documents` (URL path, resource) and their `.gz` together; returns
    how many files changed."""
    files = []
    for path, resource in documents:
        target = root / file_name(path)
        if not _is_safe_name(file_name(path)) or not target.resolve().is_relative_to(root):
            raise ValueError(f"refusing to write {path!r} outside {root}")
        files += [
            (target, resource.body),
            (target.with_name(target.name + ".gz"), resource.gzipped),
        ]
    replaced = _replace_changed(files)
    _sync({target.parent for target, _ in files})
    return replaced


def remove_files(root: Path, names: set[str]) -> int:
    return _remove_stale(root, names)


def read_manifest(root: Path) -> set[str]:
    return _read_manifest(root)


def write_manifest(root: Path, names: set[str]) -> None:
    _replace_changed([(root / MANIFEST, _manifest(names))])
