"""A Hypothesis state machine drives one real `feedd serve` with random file operations.

The folder itself is the model. After every step the served Atom, RSS and JSON feeds must list
exactly the articles that a fresh scan of the folder accepts (the code path of `feedd check`,
`Library.scan`, run in this process without the cache), with their current titles and pages,
`/healthz` must count the same articles and rejections, every listed page must answer 200, and
an entry id, once served for a path, never changes while that path is edited. The daemon runs
with `--rescan-interval 0`, so only its watcher can bring it back to the folder: the safety net
hides nothing.

One daemon serves every example (a start costs about a second); each example empties the folder
and waits for an empty site first. Every file operation is recorded as the call that repeats
it, so a failure prints a script to paste into a regression test. A longer run (not FEEDD_*:
the daemon would refuse those as unknown settings):

    MODEL_EXAMPLES=2000 MODEL_STEPS=60 .venv/bin/python -m pytest tests/e2e/test_model.py -s
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import unquote, urlsplit

import pytest
from helpers import Daemon, article, inotify_limits, running_daemon, wait_for
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from feedd import urls
from feedd.config import Settings
from feedd.library.library import Library

EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "16"))
STEPS = int(os.environ.get("MODEL_STEPS", "30"))
SETTLE_SECONDS = 10.0
MAX_ENTRIES = 1000  # far more than a run can create: every article is in every feed
FEEDS = ("/feed.atom", "/feed.rss", "/feed.json")
OUTSIDE = "../outside/"  # paths starting so are in the other folder, beside the watched one

# Small pools, so that operations meet: the same names, a folder named like an article.
NAMES = ("x.txt", "y.txt", "z.txt", "n.txt")
NOT_ARTICLES = ("notes.md", ".x.txt", "x.txt~", "x.txt.swp")
FOLDERS = ("", "a", "b", "a/c", "n.txt")
NEW_FOLDERS = (*FOLDERS[1:], "b/c", "d", ".hidden")
# Names writers use before renaming into place; candidates.py skips all of them.
TEMPORARY = (".{}.tmp", "{}~", ".{}", "{}.tmp", "{}.swp", "#{}#", ".#{}", "4913")

titles = st.sampled_from(
    ["Alpha", "Bravo", "Charlie & Delta", "Échos du matin", "Foxtrot 2", "Golf: a long story"]
)
days = st.sampled_from(["2021-01-02", "2021-03-04", "2020-12-31", "2021-13-45"])


@st.composite
def valid_articles(draw: st.DrawFn) -> bytes:
    title = draw(titles)
    lines = [f" date {draw(days)} {draw(st.sampled_from(['Wire', 'UrduPoint.com', '']))}", title]
    if draw(st.booleans()):
        lines += ["", "Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM", title]
    for paragraph in range(draw(st.integers(0, 2))):
        lines += ["", f"Paragraph {paragraph} of {title}.", "Its second line."]
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode()


without_header = titles.map(lambda title: f"{title}\n\nA body without a header.\n".encode())
broken = st.sampled_from(
    [
        b"",
        b"  \n\t\n",
        b" date 2021-01-02 Wire\n\n\n",  # no headline
        b"\x00\x01\x02 binary \x00",
        b"\x89PNG\r\n\x1a\n" + bytes(40),
    ]
)
contents = st.one_of(valid_articles(), valid_articles(), without_header, broken)
chunks = st.one_of(
    titles.map(lambda title: f"{title}\n".encode()),
    st.just(b"\nAnother paragraph.\n"),
    contents,
)
some_name = st.sampled_from(NAMES + NOT_ARTICLES[:2]) | st.sampled_from(NAMES)
some_folder = st.sampled_from(FOLDERS)


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


class Writer:
    """File operations by path relative to the watched folder, each recorded in `trace` as the
    call that repeats it."""

    def __init__(self, seeds: Path) -> None:
        self.seeds = seeds
        self.trace: list[str] = []
        self._open: BinaryIO | None = None

    def _do(self, call: str) -> None:
        self.trace.append(call)

    def path(self, relative: str) -> Path:
        return self.seeds / relative

    def write(self, relative: str, content: bytes) -> None:
        self._do(f"write({relative!r}, {content!r})")
        self.path(relative).write_bytes(content)

    def append(self, relative: str, content: bytes) -> None:
        self._do(f"append({relative!r}, {content!r})")
        with self.path(relative).open("ab") as file:
            file.write(content)

    def truncate(self, relative: str, size: int) -> None:
        self._do(f"truncate({relative!r}, {size})")
        os.truncate(self.path(relative), size)

    def begin(self, relative: str, content: bytes) -> None:
        """The first part of a file, written and flushed; the file stays open for `finish`."""
        self._do(f"begin({relative!r}, {content!r})")
        self._open = self.path(relative).open("wb")
        self._open.write(content)
        self._open.flush()

    def finish(self, content: bytes) -> None:
        self._do(f"finish({content!r})")
        assert self._open is not None
        with self._open as file:
            file.write(content)
        self._open = None

    def touch(self, relative: str, mtime_ns: int) -> None:
        """Set the modification time, as `touch -d`, `cp -p` and `rsync -t` do."""
        self._do(f"touch({relative!r}, {mtime_ns})")
        os.utime(self.path(relative), ns=(mtime_ns, mtime_ns))

    def rename(self, source: str, target: str) -> None:
        self._do(f"rename({source!r}, {target!r})")
        self.path(source).rename(self.path(target))

    def delete(self, relative: str) -> None:
        self._do(f"delete({relative!r})")
        self.path(relative).unlink()

    def mkdir(self, relative: str) -> None:
        self._do(f"mkdir({relative!r})")
        self.path(relative).mkdir(parents=True, exist_ok=True)

    def rmtree(self, relative: str) -> None:
        self._do(f"rmtree({relative!r})")
        shutil.rmtree(self.path(relative))

    def clear(self) -> None:
        """Empty the watched folder and the one beside it (not recorded: a fresh start)."""
        for folder in (self.seeds, self.path(OUTSIDE)):
            for child in list(folder.iterdir()):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        self.trace.clear()


# One served entry: (id, title, URL path of its page). A list, not a set: a duplicate shows.
Entries = list[tuple[str, str, str]]


def expectation(seeds: Path) -> tuple[Entries, int]:
    """What a fresh `feedd check` of the folder accepts, and how many files it rejects."""
    library = Library(Settings(seeds=seeds, cache=False, max_entries=MAX_ENTRIES))
    library.scan()
    entries = [(a.id, a.title, urls.article_path(path)) for path, a in library.articles.items()]
    assert len(entries) < MAX_ENTRIES
    return sorted(entries), len(library.rejected)


def served(daemon: Daemon) -> dict[str, object]:
    """The entries of each feed as the daemon sends them, and /healthz's counts."""
    found: dict[str, object] = {}
    for path in FEEDS:
        if path == "/feed.json":
            response = daemon.get(path)
            assert response.status == 200, response
            items = json.loads(response.body)["items"]
            entries = [(i["id"], i["title"], _page(i["url"])) for i in items]
        else:
            entries = [(e.id, e.title, _page(e.link)) for e in daemon.feed(path).entries]
        found[path] = sorted(entries)
    health = daemon.health()
    found["/healthz"] = (health["articles"], health["rejected"])
    return found


def _page(url: str) -> str:
    return unquote(urlsplit(url).path)


def difference(expected: dict[str, object], got: dict[str, object]) -> str:
    lines = []
    for key, want in expected.items():
        have = got.get(key)
        if have == want:
            continue
        if isinstance(want, list) and isinstance(have, list):
            missing = sorted(Counter(want) - Counter(have))
            extra = sorted(Counter(have) - Counter(want))
            lines.append(f"{key}: missing {missing}, unexpected {extra}")
        else:
            lines.append(f"{key}: expected {want}, served {have}")
    return "\n".join(lines)


def listing(folder: Path) -> str:
    lines = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder)
        lines.append(f"  {name}: {path.read_bytes()[:60]!r}" if path.is_file() else f"  {name}/")
    return "\n".join(lines)


class Checker:
    """`check()` waits until the daemon serves what a fresh scan of the folder accepts."""

    def __init__(self, daemon: Daemon, writer: Writer, timeout: float = SETTLE_SECONDS) -> None:
        self.daemon, self.writer, self.timeout = daemon, writer, timeout
        self.ids: dict[str, str] = {}  # page -> the id first served for it
        self.log_from = len(daemon.log)

    def __call__(self) -> None:
        self.writer.trace.append("check()")
        try:
            self._check()
        except AssertionError as error:
            trace = "\n".join(f"    {line}" for line in self.writer.trace)
            log = "".join(self.daemon.log[self.log_from :][-40:])
            raise AssertionError(
                f"{error}\nfolder:\n{listing(self.writer.seeds)}\n"
                f"file operations since the folder was emptied:\n{trace}\n"
                f"the daemon's log meanwhile (last lines):\n{log}"
            ) from None

    def _check(self) -> None:
        entries, rejected = expectation(self.writer.seeds)
        expected: dict[str, object] = dict.fromkeys(FEEDS, entries)
        expected["/healthz"] = (len(entries), rejected)
        last: dict[str, object] = {}

        def same() -> bool:
            last.update(served(self.daemon))
            return last == expected

        try:
            wait_for(same, self.timeout, "the served feeds to match the folder")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{difference(expected, last)}") from None
        assert len({entry_id for entry_id, _, _ in entries}) == len(entries), "ids must differ"
        for entry_id, _, page in entries:
            assert self.ids.setdefault(page, entry_id) == entry_id, f"the id of {page} changed"
            self._served(page)

    def _served(self, page: str) -> None:
        """Wait for `page` to be served. The feeds can match the folder while an event is
        still pending: a file written again with the same bytes, read while truncated ("empty
        file"), is rejected until its next read, and its page with it."""
        last = []

        def ok() -> bool:
            last[:] = [self.daemon.get(page)]
            return last[0].status == 200

        try:
            wait_for(ok, self.timeout, f"{page} to be served")
        except AssertionError:
            raise AssertionError(f"{page}: {last[0].status} {last[0].body[:200]!r}") from None


# What the runs did, printed at the end of the test (`-s` shows it): steps per operation, and
# how many of them found nothing to do (a target that was in the way).
STATS: Counter[str] = Counter()
Rule = TypeVar("Rule", bound=Callable[..., None])


def counted(function: Rule) -> Rule:
    @functools.wraps(function)
    def step(self: FolderMachine, *args: object, **kwargs: object) -> None:
        before = len(self.folder.trace)
        function(self, *args, **kwargs)
        STATS["steps"] += 1
        STATS[function.__name__] += 1
        if len(self.folder.trace) == before:
            STATS[f"{function.__name__} (nothing done)"] += 1

    return step  # type: ignore[return-value]


class FolderMachine(RuleBasedStateMachine):
    """Random writers on the watched folder, and on another folder beside it."""

    def __init__(self, daemon: Daemon, seeds: Path) -> None:
        super().__init__()
        self.folder = Writer(seeds)
        self.folder.clear()
        self.check = Checker(daemon, self.folder)
        self.stashed = itertools.count()
        STATS["examples"] += 1

    # What there is to pick from, and where things can go.

    def files(self) -> list[str]:
        seeds = self.folder.seeds
        return sorted(str(p.relative_to(seeds)) for p in seeds.rglob("*") if p.is_file())

    def folders(self) -> list[str]:
        seeds = self.folder.seeds
        return sorted(str(p.relative_to(seeds)) for p in seeds.rglob("*") if p.is_dir())

    def stash(self) -> list[str]:
        return sorted(OUTSIDE + p.name for p in self.folder.path(OUTSIDE).iterdir())

    def free(self, relative: str, *, folder: bool = False) -> bool:
        """Whether a file (or a folder) can be put at `relative`: nothing above it is a file,
        and no folder (no folder with anything in it, for a folder) is there."""
        path = self.folder.path(relative)
        for above in Path(relative).parents:
            if self.folder.path(str(above)).exists() and not self.folder.path(str(above)).is_dir():
                return False
        if folder:
            return not path.exists() or (path.is_dir() and not any(path.iterdir()))
        return not path.is_dir()

    def place(self, relative: str, *, folder: bool = False) -> str | None:
        """`relative`, with the folders above it made, if something can be put there."""
        if not self.free(relative, folder=folder):
            return None
        parent = str(Path(relative).parent)
        if parent != "." and not self.folder.path(parent).is_dir():
            self.folder.mkdir(parent)
        return relative

    # The operations.

    @rule(folder=some_folder, name=some_name, content=contents)
    @counted
    def write(self, folder: str, name: str, content: bytes) -> None:
        """Create or overwrite (open with O_TRUNC, then write)."""
        if path := self.place(join(folder, name)):
            self.folder.write(path, content)

    @rule(folder=some_folder, name=st.sampled_from(NOT_ARTICLES), content=contents)
    @counted
    def write_not_an_article(self, folder: str, name: str, content: bytes) -> None:
        if path := self.place(join(folder, name)):
            self.folder.write(path, content)

    @precondition(lambda self: self.files())
    @rule(data=st.data(), chunk=chunks)
    @counted
    def append(self, data: st.DataObject, chunk: bytes) -> None:
        self.folder.append(data.draw(st.sampled_from(self.files()), label="file"), chunk)

    @precondition(lambda self: self.files())
    @rule(data=st.data(), keep=st.sampled_from([0.0, 0.1, 0.5, 0.9]))
    @counted
    def truncate(self, data: st.DataObject, keep: float) -> None:
        path = data.draw(st.sampled_from(self.files()), label="file")
        self.folder.truncate(path, int(self.folder.path(path).stat().st_size * keep))

    @precondition(lambda self: self.files())
    @rule(data=st.data())
    @counted
    def delete(self, data: st.DataObject) -> None:
        self.folder.delete(data.draw(st.sampled_from(self.files()), label="file"))

    @precondition(lambda self: self.files())
    @rule(data=st.data(), folder=some_folder, name=some_name)
    @counted
    def rename_file(self, data: st.DataObject, folder: str, name: str) -> None:
        """Within a folder or across folders, replacing a file already there."""
        source = data.draw(st.sampled_from(self.files()), label="file")
        if source != join(folder, name) and (target := self.place(join(folder, name))):
            self.folder.rename(source, target)

    @rule(folder=st.sampled_from(NEW_FOLDERS))
    @counted
    def make_folder(self, folder: str) -> None:
        if not self.folder.path(folder).exists() and self.place(folder, folder=True):
            self.folder.mkdir(folder)

    @precondition(lambda self: self.folders())
    @rule(data=st.data(), to=st.sampled_from(NEW_FOLDERS))
    @counted
    def rename_folder(self, data: st.DataObject, to: str) -> None:
        """A folder with everything in it, renamed in place, into another one, or hidden."""
        source = data.draw(st.sampled_from(self.folders()), label="folder")
        if to == source or to.startswith(source + "/"):
            return
        if self.place(to, folder=True):  # mkdir b; mv a/c b/c: see the first regression test
            self.folder.rename(source, to)

    @precondition(lambda self: self.folders())
    @rule(data=st.data())
    @counted
    def remove_folder(self, data: st.DataObject) -> None:
        self.folder.rmtree(data.draw(st.sampled_from(self.folders()), label="folder"))

    @precondition(lambda self: self.files() or self.folders())
    @rule(data=st.data())
    @counted
    def move_out(self, data: st.DataObject) -> None:
        """To the folder beside, kept there: it may come back later."""
        source = data.draw(st.sampled_from(self.files() + self.folders()), label="to move")
        self.folder.rename(source, f"{OUTSIDE}stashed-{next(self.stashed)}")

    @precondition(lambda self: self.stash())
    @rule(data=st.data(), folder=some_folder, name=some_name)
    @counted
    def move_back_in(self, data: st.DataObject, folder: str, name: str) -> None:
        source = data.draw(st.sampled_from(self.stash()), label="stashed")
        is_dir = self.folder.path(source).is_dir()
        if target := self.place(join(folder, name), folder=is_dir):
            self.folder.rename(source, target)

    @rule(
        folder=some_folder,
        name=some_name,
        files=st.lists(st.tuples(some_name, contents), max_size=3),
        as_folder=st.booleans(),
    )
    @counted
    def move_in_new(
        self, folder: str, name: str, files: list[tuple[str, bytes]], as_folder: bool
    ) -> None:
        """A file or a folder of files written beside, then moved in with one rename."""
        made = f"{OUTSIDE}new-{next(self.stashed)}"
        if as_folder:
            self.folder.mkdir(made)
            for file_name, content in files:
                self.folder.write(f"{made}/{file_name}", content)
        else:
            self.folder.write(made, files[0][1] if files else b"")
        if target := self.place(join(folder, name), folder=as_folder):
            self.folder.rename(made, target)

    @rule(
        folder=some_folder,
        name=some_name,
        content=contents,
        cut=st.floats(0, 1),
        look=st.booleans(),
    )
    @counted
    def write_in_halves(
        self, folder: str, name: str, content: bytes, cut: float, look: bool
    ) -> None:
        """Two writes to one open file; `look`: the daemon must serve the half file first."""
        if path := self.place(join(folder, name)):
            half = int(len(content) * cut)
            self.folder.begin(path, content[:half])
            if look:
                self.check()
            self.folder.finish(content[half:])

    @rule(
        folder=some_folder,
        name=st.sampled_from(NAMES),
        pattern=st.sampled_from(TEMPORARY),
        content=contents,
        look=st.booleans(),
    )
    @counted
    def write_then_rename(
        self, folder: str, name: str, pattern: str, content: bytes, look: bool
    ) -> None:
        """Written under a temporary name (never published), then renamed into place."""
        temporary = join(folder, pattern.format(name))
        if self.place(join(folder, name)) and self.free(temporary):
            self.folder.write(temporary, content)
            if look:
                self.check()
            self.folder.rename(temporary, join(folder, name))

    @precondition(lambda self: self.files())
    @rule(data=st.data(), content=contents)
    @counted
    def editor_save(self, data: st.DataObject, content: bytes) -> None:
        """As vim saves: the file renamed to a backup, written anew, the backup deleted."""
        path = data.draw(st.sampled_from(self.files()), label="file")
        if self.free(path + "~"):
            self.folder.rename(path, path + "~")
            self.folder.write(path, content)
            self.folder.delete(path + "~")

    @rule(
        writes=st.lists(
            st.tuples(some_folder, st.sampled_from(NAMES), contents | st.none()),
            min_size=2,
            max_size=8,
        )
    )
    @counted
    def burst(self, writes: list[tuple[str, str, bytes | None]]) -> None:
        """Several files written (None: deleted) at once, with no waiting in between."""
        for folder, name, content in writes:
            if not (path := self.place(join(folder, name))):
                continue
            if content is not None:
                self.folder.write(path, content)
            elif self.folder.path(path).is_file():
                self.folder.delete(path)

    @invariant()
    def agrees(self) -> None:
        self.check()


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    """One daemon for every example: only its watcher keeps it current (no rescans)."""
    seeds = tmp_path_factory.mktemp("model") / "seeds"
    seeds.mkdir()
    (seeds / OUTSIDE).mkdir()
    with running_daemon(
        seeds, "--rescan-interval", "0", "--max-entries", str(MAX_ENTRIES)
    ) as daemon:
        yield daemon, seeds


@pytest.mark.timeout(0 if "MODEL_EXAMPLES" in os.environ else 120)
def test_the_feeds_follow_any_sequence_of_file_operations(watched: tuple[Daemon, Path]) -> None:
    daemon, seeds = watched
    run_state_machine_as_test(
        lambda: FolderMachine(daemon, seeds),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"\n{EXAMPLES} examples of up to {STEPS} steps:", dict(sorted(STATS.items())))
    about = daemon.logged("watch|polling|Traceback|failed")  # restarts of the watcher, errors
    print("the daemon's log on those:", Counter(line.split(" ", 3)[-1][:70] for line in about))


def test_a_folder_renamed_into_a_folder_whose_watch_is_being_set_up(tmp_path: Path) -> None:
    """Shrunk from the machine: `mkdir b; mv a/c b/c`, and later changes in b/c were lost.

    The watcher watches a new folder by walking it. When the walk finds a/c
    already at b/c, adding a watch for b/c returns the one a/c has (inotify keys watches by
    inode); when the rename's IN_MOVED_FROM is read after that, notify removes that watch by
    its descriptor, and b/c is watched no more. feedd lost every later change in b/c, then
    (once it counted watches) took the shortfall for the inotify limit and polled for good;
    now it sets every watch up afresh. A deep folder moved in makes the walk long enough for
    the rename to land in it nearly every time."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (tmp_path / "outside").mkdir()
    deep = "/".join(["deep"] * 200)
    with running_daemon(seeds, "--rescan-interval", "0") as daemon:
        folder = Writer(seeds)
        check = Checker(daemon, folder)
        for attempt in range(3):
            folder.mkdir(f"a{attempt}/c")
            folder.write(f"a{attempt}/c/x.txt", article(f"Before {attempt}", "A body.").encode())
            check()
            folder.mkdir(f"{OUTSIDE}q{attempt}/{deep}/b")
            folder.rename(f"{OUTSIDE}q{attempt}", f"q{attempt}")
            folder.rename(f"a{attempt}/c", f"q{attempt}/{deep}/b/c")
            check()
            folder.write(
                f"q{attempt}/{deep}/b/c/x.txt", article(f"After {attempt}", "A body.").encode()
            )
            check()  # a lost watch shows by now (or a fallback to polling, in the log)
            if daemon.logged("falling back to polling"):
                break
        assert not daemon.logged("falling back to polling"), "".join(daemon.log)


def test_polling_sees_a_file_changed_twice_within_a_second(tmp_path: Path) -> None:
    """Found by the machine once a race had made feedd poll: of two writes to y.txt in one
    burst, the feeds kept the first title. Polling (past the inotify limits, here none at all)
    rescans, which compares each file's size, mtime to the nanosecond and inode: a second
    save within the same second is seen. Here the writes set mtimes within one second in the
    future, so only nanoseconds tell them apart."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (tmp_path / "outside").mkdir()
    limits = inotify_limits(watches=100, instances=0)
    with running_daemon(seeds, "--rescan-interval", "0", prefix=limits) as daemon:
        wait_for(lambda: daemon.logged("falling back to polling"), what="polling")
        folder = Writer(seeds)
        check = Checker(daemon, folder, timeout=3)  # a poll every second would do
        second = (int(time.time()) + 86400) * 10**9
        for mtime, title in ((second, "First save"), (second + 500_000_000, "Second save")):
            folder.write("y.txt", article(title, "A body.").encode())
            folder.touch("y.txt", mtime)
            check()
