"""Write a `Site` to a folder so that a reader of it (nginx, rsync) never sees a half-written file."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from feedd import urls
from feedd.site import Site

log = logging.getLogger(__name__)

# The files the last write produced, so the next one removes what is no longer published and
# never touches anything else in the folder.
MANIFEST = ".feedd-manifest"


@dataclass(frozen=True, slots=True)
class WriteStats:
    written: int
    unchanged: int
    removed: int


def file_name(path: str) -> str:
    """The file that holds the document at URL `path`, relative to the output folder."""
    return "index.html" if path == urls.INDEX else path.lstrip("/")


def write_site(site: Site, out: Path) -> WriteStats:
    """Write every document and its `.gz` beside it, each by an atomic rename; remove stale
    files. Unchanged files are left alone, so their mtime (and nginx's ETag) stays."""
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    wanted: set[str] = set()
    written = unchanged = 0
    for path, resource in site.resources.items():
        name = file_name(path)
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"refusing to write {path!r} outside {root}")
        for suffix, data in (("", resource.body), (".gz", resource.gzipped)):
            wanted.add(name + suffix)
            if _write_if_changed(target.with_name(target.name + suffix), data):
                written += 1
            else:
                unchanged += 1
    removed = _remove_stale(root, wanted)
    _write_if_changed(root / MANIFEST, "".join(f"{n}\n" for n in sorted(wanted)).encode())
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


def _remove_stale(root: Path, wanted: set[str]) -> int:
    try:
        previous = (root / MANIFEST).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    removed = 0
    for name in previous:
        if name in wanted or not name:
            continue
        stale = (root / name).resolve()
        if stale.is_relative_to(root) and stale.is_file():
            stale.unlink()
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
