"""A persistent cache of what each file parsed to, so a restart costs a `stat` per file.

SQLite from the standard library, in the state directory; keyed by path, each row holding the
hash of the file's size, mtime and inode (its version) and of its bytes (its digest); thrown
away whole when the parser, a setting that changes parsing, or the Python that hashes differs.
A missing, corrupt or unwritable cache is rebuilt or done without, never fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from feedd.config import Settings
from feedd.parse.article import PARSER_VERSION, Head

log = logging.getLogger(__name__)

_SCHEMA = 5  # bump when the tables change


class Stored(NamedTuple):
    """A row as stored, and what a scan makes of a worker's answer: plain values, turned into
    datetimes and heads only as they are used (a start goes through a row a file)."""

    version: int  # hash() of the file's (size, mtime_ns, inode)
    published: float | None
    updated: float | None
    source: str | None
    warnings: str | None  # JSON
    reason: str | None  # why the file is rejected; None for an article
    digest: int = 0  # of the file's bytes (`reading.digest`): its entry's version

    def head(self) -> Head | str:
        if self.reason is not None:
            return self.reason
        return Head(
            datetime.fromtimestamp(self.published, UTC),  # type: ignore[arg-type]
            datetime.fromtimestamp(self.updated, UTC),  # type: ignore[arg-type]
            self.source,
            self.stored_warnings(),
        )

    def stored_warnings(self) -> tuple[str, ...]:
        return tuple(json.loads(self.warnings)) if self.warnings else ()


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of a cache: its articles column by column (a warm start makes their entries in
    loops that run in C), and the other rows (rejected files) whole."""

    paths: Sequence[str] = ()
    versions: Sequence[int] = ()
    published: Sequence[float] = ()
    updated: Sequence[float] = ()
    sources: Sequence[str | None] = ()
    warnings: Sequence[str | None] = ()
    digests: Sequence[int] = ()
    rejected: Mapping[str, Stored] = field(default_factory=lambda: MappingProxyType({}))

    def __len__(self) -> int:
        return len(self.paths) + len(self.rejected)

    def stored(self) -> dict[str, Stored]:
        """Every row as a `Stored`, by path."""
        articles = zip(
            self.versions, self.published, self.updated, self.sources, self.warnings, strict=True
        )
        rows = {
            path: Stored(*row, None, digest)
            for path, row, digest in zip(self.paths, articles, self.digests, strict=True)
        }
        return {**rows, **self.rejected}


def cache_path(settings: Settings, environ: Mapping[str, str]) -> Path | None:
    """Where the cache of `settings.seeds` lives, or None when caching is off.

    The state directory is `state_dir`, else systemd's `$STATE_DIRECTORY`, else
    `$XDG_CACHE_HOME/feedd` (`~/.cache/feedd`); one file per watched folder.
    """
    if not settings.cache:
        return None
    folder = (
        Path(settings.state_dir)
        if settings.state_dir
        else Path(environ["STATE_DIRECTORY"].split(":")[0])
        if environ.get("STATE_DIRECTORY")
        else Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "feedd"
    )
    root = os.path.realpath(settings.seeds)
    name = hashlib.blake2b(root.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return folder / f"articles-{name}.sqlite3"


class ArticleCache:
    """The cache of one folder. A start trusts it only when it is complete: written whole by a
    process that then kept it in step. Deleted while feedd runs, thrown away as corrupt, or
    left behind by a save that failed, it is written whole again at the next save, and until
    then a start checks the folder before it publishes anything."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        # Anything that would make the same bytes parse or date differently, or the same
        # signature hash to another version.
        self._fingerprint = json.dumps(
            [
                _SCHEMA,
                PARSER_VERSION,
                settings.timezone,
                settings.max_article_bytes,
                sys.implementation.cache_tag,
            ]
        )
        # What marks the file as the complete one this process wrote or read: rows can be
        # added to it one by one. None: the next save writes every row.
        self._whole: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the rows last loaded, or saved, are every file's."""
        return self._whole is not None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Rows:
        """Every row, or none if the cache is missing, stale or unreadable."""
        self._whole = None
        if not self.path.exists():
            return Rows()
        try:
            with self._open() as db:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("fingerprint") != self._fingerprint:
                    return Rows()
                rows = _rows(_select(db))
                self._whole = meta.get("whole")
        except sqlite3.Error as error:
            if _corrupt(error):
                log.warning("cache %s unreadable (%s); rebuilding it", self.path, error)
                self._discard()
            else:  # a full disk, a lock, a file size limit: the cache may be fine later
                log.warning("cannot read cache %s (%s); starting without it", self.path, error)
            return Rows()
        return rows

    def save(self, rows: Mapping[str, Stored | None]) -> bool:
        """Write the rows that changed and forget the paths mapped to None. False, writing
        nothing, unless the file is the complete one this process knows (then the caller saves
        every row with `save_whole`), or when writing failed (logged)."""
        if self._whole is None:
            return False
        try:
            with self._open() as db:
                marker = db.execute("SELECT value FROM meta WHERE key = 'whole'").fetchone()
                if marker is None or marker[0] != self._whole:
                    self._whole = None  # another file now, or emptied
                    return False
                _write(db, rows)
        except (sqlite3.Error, OSError, ValueError, OverflowError) as error:
            self._failed(error)
            return False
        return True

    def save_whole(self, rows: Mapping[str, Stored]) -> None:
        """Replace every row with `rows`, every file's; errors are logged."""
        marker = secrets.token_hex(8)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._open() as db:
                db.execute("DELETE FROM files")
                db.execute("DELETE FROM meta")
                _write(db, rows)
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("fingerprint", self._fingerprint), ("whole", marker)],
                )
        except (sqlite3.Error, OSError, ValueError, OverflowError) as error:
            self._failed(error)
            return
        self._whole = marker

    def _failed(self, error: Exception) -> None:
        log.warning("cannot write cache %s: %s", self.path, error)
        self._whole = None  # what it holds is not known now: the next save writes every row
        if isinstance(error, sqlite3.Error) and _corrupt(error):
            self._discard()

    @contextlib.contextmanager
    def _open(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction, committed at the end and closed."""
        db = sqlite3.connect(self.path)
        try:
            with db:
                self._prepare(db)
                yield db
        finally:
            db.close()

    @staticmethod
    def _prepare(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS files (path BLOB PRIMARY KEY, version INTEGER,"
            " published REAL, updated REAL, source TEXT, warnings TEXT, reason TEXT,"
            " digest INTEGER) WITHOUT ROWID"
        )

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")


def _write(db: sqlite3.Connection, rows: Mapping[str, Stored | None]) -> None:
    db.executemany(
        "DELETE FROM files WHERE path = ?",
        ((_key(path),) for path, stored in rows.items() if stored is None),
    )
    # In key order: SQLite then appends to its tree rather than inserting all over it.
    db.executemany(
        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sorted((_key(path), *stored) for path, stored in rows.items() if stored),
    )


# The rows as `_select` reads them: the articles' columns (path, version, published, updated,
# source, warnings, digest; none if there are no articles), and the other rows whole.
_Selected = tuple[tuple[tuple[Any, ...], ...], tuple[tuple[Any, ...], ...]]


def _select(db: sqlite3.Connection) -> _Selected:
    articles = db.execute(
        "SELECT path, version, published, updated, source, warnings, digest FROM files"
        " WHERE reason IS NULL"
    ).fetchall()
    others = db.execute(
        "SELECT path, version, published, updated, source, warnings, reason, digest FROM files"
        " WHERE reason IS NOT NULL"
    ).fetchall()
    return tuple(zip(*articles, strict=True)), tuple(others)


def _rows(selected: _Selected) -> Rows:
    columns, others = selected
    rejected = {_path(row[0]): Stored._make(row[1:]) for row in others}
    if not columns:
        return Rows(rejected=rejected)
    paths, versions, published, updated, sources, warnings, digests = columns
    return Rows(
        tuple(map(_path, paths)), versions, published, updated, sources, warnings, digests, rejected
    )


def _corrupt(error: sqlite3.Error) -> bool:
    """Whether the cache file itself is broken (then it is thrown away, not when the disk
    is full or the file size limited: SQLite calls those "disk I/O error" too)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return "malformed" in str(error) or "not a database" in str(error)


def _key(path: str) -> bytes:
    """Paths are stored as the file system's bytes: a name need not be valid UTF-8."""
    return path.encode("utf-8", "surrogateescape")


def _path(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")
