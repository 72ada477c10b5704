"""Write a `Site` to a folder so that a reader of it (nginx, rsync) never sees a half-written file."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feedd import urls
from feedd.site import Resource, Site

if TYPE_CHECKING:
    from feedd.library import Entry

log = logging.getLogger(__name__)

# The files the last write produced, so the next one removes what is no longer published and
# never touches anything else in the folder.
MANIFEST = ".feedd-manifest"

# Written after every article page, so they never link to a page that is not there yet.
_LAST = frozenset({urls.ATOM, urls.RSS, urls.JSON, urls.INDEX})


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
) -> WriteStats:
    """Write every document and its `.gz` beside it, each by an atomic rename; remove stale
    files. Unchanged files are left alone, so their mtime (and nginx's ETag) stays.

    Pages the site builds on demand (`site.pages`) are built one at a time by `render_page`,
    so a large site is never held in memory at once. Article pages go first and the feeds and
    the index last, so a reader never follows a link to a page that is not there yet; on an
    error the feeds still describe the previous site.
    """
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    previous = _read_manifest(root)
    paths = sorted(
        [*site.resources, *(site.pages if render_page else ())],
        key=lambda path: (path in _LAST, path),
    )
    for path in paths:
        name = file_name(path)
        if not _is_safe_name(name) or not (root / name).resolve().is_relative_to(root):
            raise ValueError(f"refusing to write {path!r} outside {root}")
    wanted = {file_name(path) + suffix for path in paths for suffix in ("", ".gz")}
    # Everything this write may leave behind is listed before it is written, so files from a
    # write that failed half-way are still removed by the next one.
    _write_manifest(root, previous | wanted)
    written = unchanged = 0
    for done, path in enumerate(paths, 1):
        if progress is not None and (done % 1000 == 0 or done == len(paths)):
            progress(done, len(paths))
        resource = site.resources.get(path)
        if resource is None and render_page is not None:
            resource = render_page(site.pages[path])
        if resource is None:  # the article went away while the site was written
            wanted -= {file_name(path), file_name(path) + ".gz"}
            continue
        target = root / file_name(path)
        for suffix, data in (("", resource.body), (".gz", resource.gzipped)):
            if _write_if_changed(target.with_name(target.name + suffix), data):
                written += 1
            else:
                unchanged += 1
    removed = _remove_stale(root, previous - wanted)
    _write_manifest(root, wanted)
    return WriteStats(written, unchanged, removed)


def _write_if_changed(target: Path, data: bytes) -> bool:
    try:
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return False
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


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


def _write_manifest(root: Path, names: set[str]) -> None:
    # A JSON list, not one name a line: a file name may hold a newline or U+2028.
    _write_if_changed(root / MANIFEST, json.dumps(sorted(names), indent=0).encode() + b"\n")


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
