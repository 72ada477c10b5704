"""Reading one article file safely, here or in a worker process, and many in parallel.

Safe: never past `max_article_bytes`, never blocking on a FIFO or device, never outside the
folder through a symlink. Pure otherwise: no library state, so any thread or process may call it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import multiprocessing
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple, TypeVar

from feedd.config import Settings
from feedd.parse.article import Article, ArticleError, parse, parse_head

log = logging.getLogger(__name__)

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_FROM = 2000
_CHUNK = 500


def transient(reason: str) -> bool:
    """Whether a rejection may go away by itself (permissions fixed, a disk back): such
    rejections are retried at every rescan and never cached."""
    return reason.startswith(("cannot read:", "cannot list folder:"))


# A file's size, mtime (ns) and inode: what says it changed.
Signature = tuple[int, int, int]
# What an unsigned walk gives a file, and a read that did not see what its `fstat` said: no
# signature equals it, so the file is read again (and that read's `fstat` signs it).
UNSIGNED: Signature = (-1, -1, -1)

# An article's head as a worker sends it back: its dates as UTC timestamps, its source and its
# warnings as JSON: plain values pickle faster than datetimes with a ZoneInfo, and they are
# what the cache stores.
Packed = tuple[float, float, str | None, str | None]

# What reading a path gave: the article (whole, or its head from a worker), why it is rejected,
# or None when it is no candidate at all (gone, a FIFO, outside the folder).
Outcome = Article | Packed | str | None

_Chunk = TypeVar("_Chunk")


def read_many(
    root: str, paths: Sequence[str], settings: Settings, *, whole: bool = False
) -> Iterator[tuple[str, Signature | None, int, Outcome]]:
    """The outcome of each path, with the signature of the file that was read (None when
    it could not be opened): whole articles if `whole`, else heads (`Packed`), read in
    worker processes when there are many (see `_in_chunks`)."""
    if whole:
        for path in paths:
            yield path, *_read(root, path, settings)
        return
    for results in _in_chunks(_heads, root, paths, settings):
        yield from results


class Heads(NamedTuple):
    """The heads of many files column by column, as a first scan restores them (see
    `Library._restore_all`): lists of plain values pickle faster than a tuple a file. The
    files without a head are in `others`."""

    paths: list[str]
    versions: list[int]  # hash() of each signature
    digests: list[int]  # of each file's bytes (see `digest`)
    published: list[float]
    updated: list[float]
    sources: list[str | None]
    warnings: list[str | None]  # JSON
    # (path, signature or None when it could not be opened, why it is rejected or None when
    # it is no candidate now)
    others: list[tuple[str, Signature | None, str | None]]


def read_heads(root: str, paths: Iterable[str], settings: Settings) -> Iterator[Heads]:
    """The heads of `paths` in batches, read in worker processes when there are many. `paths`
    may come from a walk still under way: the workers read the first batches while it finds
    the rest."""
    return _in_chunks(_heads_in_columns, root, paths, settings)


def _in_chunks(
    read: Callable[[str, Sequence[str], Settings], _Chunk],
    root: str,
    paths: Iterable[str],
    settings: Settings,
) -> Iterator[_Chunk]:
    """`read` applied to `paths` a chunk at a time, in order: by one worker process per core
    for many paths (the text would cost more to send than to read again), here for a few.

    Each chunk goes to the workers as soon as it is whole, so they start while `paths` is
    still being produced; the results come once it is exhausted. Read here, `paths` is
    exhausted first too, so a caller counting them knows the total before the first result."""
    chunks = _batched(paths, _CHUNK)
    ahead = list(itertools.islice(chunks, -(-PARALLEL_FROM // _CHUNK)))
    if sum(map(len, ahead)) < PARALLEL_FROM or (workers := os.cpu_count() or 1) < 2:
        for chunk in [*ahead, *chunks]:
            yield read(root, chunk, settings)
        return
    pending = itertools.chain(ahead, chunks)
    sent: list[list[str]] = []

    def sending() -> Iterator[list[str]]:
        for chunk in pending:
            sent.append(chunk)
            yield chunk

    done = 0
    try:
        with worker_pool(workers) as pool:
            for result in pool.map(
                read, itertools.repeat(root), sending(), itertools.repeat(settings)
            ):
                yield result
                done += 1
    except (BrokenProcessPool, OSError) as error:
        log.warning("worker processes failed (%s); reading the rest here", error or "killed")
        for chunk in itertools.chain(sent[done:], pending):
            yield read(root, chunk, settings)


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """`items` in lists of `size` (the last one shorter); `itertools.batched` from 3.12."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes, started from a fork server: the caller may run threads (the
    watcher), which a plain fork would copy half-done."""
    with ProcessPoolExecutor(workers, mp_context=_fork_server()) as pool:
        yield pool


def _fork_server() -> multiprocessing.context.ForkServerContext:
    """The fork server's context, its server told to import this module before it forks."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["feedd.library.reading"])
    return context


def _heads(
    root: str, paths: Sequence[str], settings: Settings
) -> list[tuple[str, Signature | None, int, Outcome]]:
    with _Folders(root) as folders:
        return [(path, *_read(root, path, settings, folders, head_only=True)) for path in paths]


def _heads_in_columns(root: str, paths: Sequence[str], settings: Settings) -> Heads:
    heads = Heads([], [], [], [], [], [], [], [])
    with _Folders(root) as folders:
        for path in paths:
            signature, read, outcome = _read(root, path, settings, folders, head_only=True)
            if isinstance(outcome, tuple):
                assert signature is not None  # (a head was read)
                heads.paths.append(path)
                heads.versions.append(hash(signature))
                heads.digests.append(read)
                heads.published.append(outcome[0])
                heads.updated.append(outcome[1])
                heads.sources.append(outcome[2])
                heads.warnings.append(outcome[3])
            else:
                assert not isinstance(outcome, Article)  # (heads only)
                heads.others.append((path, signature, outcome))
    return heads


def _read(
    root: str,
    path: str,
    settings: Settings,
    folders: _Folders | None = None,
    *,
    head_only: bool = False,
) -> tuple[Signature | None, int, Outcome]:
    """Read one file, and sign it with its `fstat`; and the `digest` of what was read (0 when
    nothing was)."""
    signature = None
    read = 0
    try:
        raw, st = _read_bytes(root, path, settings.max_article_bytes, folders)
        # A writer's `open("w")` can empty the file between the `fstat` and the read, and
        # write the same bytes in the same tick of the file system's clock after it: what
        # was read (nothing) would be signed as the file that came back.
        signature = (st.st_size, st.st_mtime_ns, st.st_ino) if len(raw) == st.st_size else UNSIGNED
        read = digest(raw)
        _check_name(path)
        if not head_only:
            return signature, read, parse(path, raw, mtime=st.st_mtime, tz=settings.tz)
        head = parse_head(raw, mtime=st.st_mtime, tz=settings.tz)
        return (
            signature,
            read,
            (
                head.published.timestamp(),
                head.updated.timestamp(),
                head.source,
                json.dumps(head.warnings) if head.warnings else None,
            ),
        )
    except ArticleError as error:
        return signature, read, error.reason
    except NotACandidate:
        return None, 0, None


def digest(raw: bytes) -> int:
    """What an article's bytes are, in a number: a new version of a file is a new entry even
    when its size, time and inode stay the same (`cp -p`, `rsync -t`)."""
    return zlib.crc32(raw)


class NotACandidate(Exception):
    """The path vanished or turned into something that is not an article candidate."""


def read_article(root: str, path: str, settings: Settings) -> Article:
    """Read and parse the file at `path` (relative to the real path `root`) as it is now.

    Raises `ArticleError` for a file that is not an article and `NotACandidate` for a path that
    is gone or is no file feedd may read (outside the folder, a FIFO, a device). Safe to call
    from any thread: it touches no library state.
    """
    raw, st = _read_bytes(root, path, settings.max_article_bytes)
    _check_name(path)
    return parse(path, raw, mtime=st.st_mtime, tz=settings.tz)


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW


def _read_bytes(
    root: str, path: str, limit: int, folders: _Folders | None = None
) -> tuple[bytes, os.stat_result]:
    """Read at most `limit` + 1 bytes, never blocking on a FIFO or device; and the file's
    `fstat`."""
    try:
        fd = _open(root, path, folders)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise NotACandidate from None
        raise ArticleError(f"cannot read: {error.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotACandidate
        if st.st_size > limit:
            raise ArticleError(f"larger than max_article_bytes ({st.st_size} > {limit} bytes)")
        try:
            raw = _read_to_end(fd, st.st_size, limit)
        except OSError as error:
            raise ArticleError(f"cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise ArticleError(f"larger than max_article_bytes (over {limit} bytes)")
    return raw, st


def _read_to_end(fd: int, size: int, limit: int) -> bytes:
    """The file's bytes, in one `read` sized by `fstat` when it holds still (a buffer sized by
    the limit cost more than the parse); a file growing is read on, to `limit` + 1 at most."""
    raw = os.read(fd, size + 1)
    if len(raw) == size:
        return raw
    chunks = [raw]
    total = len(raw)
    while total <= limit and (more := os.read(fd, limit + 1 - total)):
        chunks.append(more)
        total += len(more)
    return b"".join(chunks)


def _open(root: str, path: str, folders: _Folders | None) -> int:
    """Open the file at `path` without following a symlink out of the folder."""
    if folders is not None:
        folder, _, name = path.rpartition("/")
        folder_fd = folders.fd(folder)
        if folder_fd is not None:
            try:
                return os.open(name, _OPEN_FLAGS, dir_fd=folder_fd)
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                # A symlink: resolved below, and read if it stays inside the folder.
    real = _real_path(root, path)
    if not inside(root, real):
        raise NotACandidate
    return os.open(real, _OPEN_FLAGS)


class _Folders:
    """The folders of a batch of files, each checked and opened once: the files in one are
    then opened relative to it (an `openat`), rather than found again from the root with an
    `lstat` of every component. Most of a cold scan's files share a few folders."""

    def __init__(self, root: str) -> None:
        self._root = root
        self._fds: dict[str, int | None] = {}

    def fd(self, folder: str) -> int | None:
        """An open descriptor of `folder` (relative), or None to take the slow way (it is
        outside the folder, or cannot be opened: the slow way says why)."""
        if folder in self._fds:
            return self._fds[folder]
        fd = None
        real = _real_path(self._root, folder) if folder else self._root
        if inside(self._root, real):
            with contextlib.suppress(OSError):
                fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._fds[folder] = fd
        return fd

    def __enter__(self) -> _Folders:
        return self

    def __exit__(self, *_: object) -> None:
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)


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


def _real_path(root: str, path: str) -> str:
    """`os.path.realpath(root/path)` for a `root` that is already real: an lstat per component
    below it rather than one per component from /, and no resolving unless one is a link."""
    current = root
    for part in path.split("/"):
        current = f"{current}/{part}"
        if stat.S_ISLNK(os.lstat(current).st_mode):
            return os.path.realpath(os.path.join(root, path))
    return current


def inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")
