# Text in other scripts is the point of the corpus, confusable letters and all.
# ruff: noqa: RUF001
"""What the tests share: the text of an article file (`article`) and an `Article` built whole
(`make_article`), a real `feedd serve` in a subprocess on a free loopback port
(`running_daemon`) and waiting on conditions (`wait_for`), and the hostile corpus
(`build_corpus`)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import feedparser
import pytest

from feedd.parse.article import Article, entry_id

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds"
REAL_SEED = SEEDS / "000_1a328842afac22b4.txt"

# --- articles -------------------------------------------------------------------------------


def article(
    title: str,
    body: str = "Body first line. Body paragraph.",
    *,
    day: str = "2021-01-02",
    source: str = "Wire",
) -> str:
    """The text of an article file: its dateline (`day`, `source`), `title` and one paragraph."""
    return f" date {day} {source}\n{title}\n\n{body}\n"


def make_article(
    path: str,
    title: str = "Headline",
    *,
    published: datetime = datetime(2021, 1, 2, tzinfo=UTC),
    updated: datetime | None = None,
    author: str | None = None,
    source: str | None = "Wire",
    paragraphs: tuple[str, ...] = ("Body.",),
) -> Article:
    """An `Article` as parsing the file at `path` would give it (`updated`: `published` if None)."""
    return Article(
        id=entry_id(path),
        path=path,
        title=title,
        author=author,
        source=source,
        published=published,
        updated=updated or published,
        paragraphs=paragraphs,
    )


# --- a real `feedd serve` -------------------------------------------------------------------

T = TypeVar("T")
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    every: float = 0.005,
) -> T:
    """Poll `condition` every `every` seconds until it returns something truthy; fail after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    port: int = 0
    log: list[str] = field(default_factory=list)

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            body = response.read()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            connection.close()

    def feed(self, path: str = "/feed.atom") -> feedparser.FeedParserDict:
        response = self.get(path)
        assert response.status == 200, response
        parsed = feedparser.parse(response.body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        return parsed

    def titles(self, path: str = "/feed.atom") -> set[str]:
        return {entry.title for entry in self.feed(path).entries}

    def health(self) -> dict[str, object]:
        import json

        return json.loads(self.get("/healthz").body)  # type: ignore[no-any-return]

    def logged(self, pattern: str) -> list[str]:
        return [line for line in list(self.log) if re.search(pattern, line)]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextmanager
def running_daemon(
    seeds: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    prefix: tuple[str, ...] = (),
) -> Iterator[Daemon]:
    """`feedd serve` on `seeds`, once it is listening, has published its first site and
    watches the folder; run under a command `prefix` if given (fewer capabilities, a user
    namespace of its own)."""
    command = [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", "0"]
    process = subprocess.Popen(
        [*prefix, *command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    daemon = Daemon(process)
    assert process.stderr is not None
    stream = process.stderr

    def collect() -> None:
        for line in stream:
            daemon.log.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        match = wait_for(
            lambda: (
                next(filter(None, map(_LISTENING.search, list(daemon.log))), None)
                or (process.poll() is not None and _fail(daemon))
            ),
            timeout,
            "the daemon to listen",
        )
        daemon.port = int(match.group(1))
        wait_for(lambda: daemon.get("/healthz").status == 200, timeout, "the first site")
        # The watches are set up once the first site is out: what a test changes before they
        # are in place is still published (their setup rescans), but not as an event.
        wait_for(lambda: daemon.logged(_WATCHING), timeout, "the watches")
        yield daemon
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- feedd serve log ---\n{''.join(daemon.log)}") from None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)
        stream.close()


_WATCHING = "for changes|waiting for it to come back|falling back to polling|watcher failed"


def _fail(daemon: Daemon) -> None:
    raise AssertionError("feedd serve exited early:\n" + "".join(daemon.log))


def without_file_permission_bypass() -> tuple[str, ...]:
    """A command prefix under which chmod 000 denies reading, even when the tests run as
    root: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped. Skips where that cannot be."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing to drop CAP_DAC_*")
    caps = "-dac_override,-dac_read_search"
    prefix = (setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}")
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def inotify_limits(watches: int, instances: int) -> tuple[str, ...]:
    """A command prefix: run in a user namespace of its own whose inotify limits are `watches`
    and `instances` (0 instances: nothing can be watched, and feedd polls). Skips the test
    where unshare cannot do that."""
    script = (
        'echo "$1" > /proc/sys/user/max_inotify_watches'
        ' && echo "$2" > /proc/sys/user/max_inotify_instances && shift 2 && exec "$@"'
    )
    prefix = ("unshare", "--user", "--map-root-user", "--", "sh", "-c", script, "sh")
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("unshare and nsenter (util-linux) are needed for inotify limits")
    probe = subprocess.run([*prefix, "1", "1", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot set inotify limits in a user namespace: {probe.stderr!r}")
    return (*prefix, str(watches), str(instances))


# --- the hostile corpus ---------------------------------------------------------------------
# A folder of varied and hostile files, and what feedd must make of each: `build_corpus(root)`
# writes it and returns a `Corpus` saying which files are articles (with the fields a reader
# must get back), which are rejected (with a fragment of the reason) and which must be skipped
# silently; for the library, `feedd build` and `feedd check` alike.

MiB = 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """What a reader must find for one article."""

    title: str
    first_paragraph: str
    author: str | None = None
    source: str | None = None
    published: datetime | None = None  # None: dated by the file's mtime
    warns: bool = False


@dataclass
class Corpus:
    root: Path
    good: dict[str, Expected] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)  # path -> fragment of the reason
    skipped: set[str] = field(default_factory=set)  # paths that must never appear anywhere
    outside: Path | None = None  # a folder beside root that symlinks point into

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def accept(self, relative: str, expected: Expected, data: bytes | str) -> None:
        self.write(relative, data)
        self.good[relative] = expected

    def reject(self, relative: str, reason: str, data: bytes | str) -> None:
        self.write(relative, data)
        self.bad[relative] = reason

    def skip(
        self, relative: str, data: bytes | str = "date 2021-01-01 X\nSkipped\n\nBody.\n"
    ) -> None:
        self.write(relative, data)
        self.skipped.add(relative)

    def symlink(self, relative: str, target: str | Path) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _article_text(title: str, body: str, header: str = "date 2021-03-04 Test Wire") -> str:
    return f"{header}\n{title}\n\n{body}\n"


def build_corpus(root: Path, *, special_files: bool = True) -> Corpus:
    """Write the hostile corpus into `root` (created) and a sibling `outside` folder.

    `special_files` adds a FIFO and a character device (device only when allowed, as root).
    """
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    _good(corpus)
    _bad(corpus)
    _not_candidates(corpus, special_files=special_files)
    return corpus


def _good(c: Corpus) -> None:
    c.accept(
        "000_1a328842afac22b4.txt",
        Expected(
            title="China's Foreign Minister Hails Prospects Of Strategic Cooperation With "
            "Russia As Limitless",
            first_paragraph="MOSCOW (UrduPoint News / Sputnik - 02nd January, 2021) China and",
            author="Faizan Hashmi",
            source="UrduPoint.com",
            published=_utc(2021, 1, 2, 11, 0),
        ),
        REAL_SEED.read_bytes(),
    )
    c.accept(
        "اردو/پاکستان کی خبریں.txt",
        Expected(
            title="وزیراعظم نے نئے منصوبے کا اعلان کر دیا",
            first_paragraph="اسلام آباد: وزیراعظم نے آج ایک نئے ترقیاتی منصوبے کا اعلان کیا۔",
            author="احمد علی",
            source="UrduPoint.com",
            published=_utc(2021, 1, 5, 14, 30),
        ),
        "date 2021-01-05 UrduPoint.com\n"
        "وزیراعظم نے نئے منصوبے کا اعلان کر دیا\n\n"
        "احمد علی 2 hours ago Tue 05th January 2021 | 02:30 PM\n\n"
        "اسلام آباد: وزیراعظم نے آج ایک نئے ترقیاتی منصوبے کا اعلان کیا۔\n\n"
        "دوسرا پیراگراف۔\n",
    )
    c.accept(
        "новости/Москва сегодня.txt",
        Expected(
            title="В Москве открылась новая станция метро",
            first_paragraph="МОСКВА, 6 января. Сегодня утром открылась станция «Новая».",
            source="ТАСС",
            published=_utc(2021, 1, 6),
        ),
        _article_text(
            "В Москве открылась новая станция метро",
            "МОСКВА, 6 января. Сегодня утром открылась станция «Новая».\n\nВторой абзац.",
            "date 2021-01-06 ТАСС",
        ),
    )
    c.accept(
        "中文 新闻/北京.txt",
        Expected(
            title="北京举行新闻发布会",
            first_paragraph="新华社北京1月7日电 今天上午，外交部举行例行新闻发布会。",
            source="新华社",
            published=_utc(2021, 1, 7),
        ),
        _article_text(
            "北京举行新闻发布会",
            "新华社北京1月7日电 今天上午，外交部举行例行新闻发布会。",
            "date 2021-01-07 新华社",
        ),
    )
    c.accept(
        "emoji 🎉 party.txt",
        Expected(
            title="Party time 🎉🥳 at the 🏛️ museum",
            first_paragraph="Everyone 👩‍👩‍👧‍👦 came; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP survives.",
            published=_utc(2021, 1, 8),
        ),
        _article_text(
            "Party time 🎉🥳 at the 🏛️ museum",
            "Everyone 👩‍👩‍👧‍👦 came; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP survives.",
            "date 2021-01-08",
        ),
    )
    c.accept(
        "crlf.txt",
        Expected(
            title="Windows line endings",
            first_paragraph="First line of the paragraph second line of it.",
            source="Wire",
            published=_utc(2021, 1, 9),
        ),
        b"date 2021-01-09 Wire\r\nWindows line endings\r\n\r\n"
        b"First line of the paragraph\r\nsecond line of it.\r\n\r\nSecond paragraph.\r\n",
    )
    c.accept(
        "bom.txt",
        Expected(
            title="A file that starts with a byte order mark",
            first_paragraph="The BOM must not end up in the feed.",
            source="Wire",
            published=_utc(2021, 1, 10),
        ),
        b"\xef\xbb\xbf"
        + _article_text(
            "A file that starts with a byte order mark",
            "The BOM must not end up in the feed.",
            "date 2021-01-10 Wire",
        ).encode(),
    )
    c.accept(
        "legacy/cp1252.txt",
        Expected(
            title="“Smart quotes” and café – from Windows",
            first_paragraph="It costs €5 — or so they say.",
            source="Wire",
            published=_utc(2021, 1, 11),
            warns=True,
        ),
        _article_text(
            "“Smart quotes” and café – from Windows",
            "It costs €5 — or so they say.",
            "date 2021-01-11 Wire",
        ).encode("cp1252"),
    )
    c.accept(
        "odd names/a #1? 100% sure.txt",
        Expected(
            title="Names with URL-special characters",
            first_paragraph="Hash, question mark and percent sign in the file name.",
            published=_utc(2021, 1, 12),
        ),
        _article_text(
            "Names with URL-special characters",
            "Hash, question mark and percent sign in the file name.",
            "date 2021-01-12",
        ),
    )
    c.accept(
        "a/b/c/d/deeply nested.txt",
        Expected(
            title="Deep in the tree",
            first_paragraph="Subfolders are walked.",
            source="Wire",
            published=_utc(2021, 1, 13),
        ),
        _article_text("Deep in the tree", "Subfolders are walked.", "date 2021-01-13 Wire"),
    )
    c.accept(
        "markup.txt",
        Expected(
            title="Tom & Jerry: 5 < 6 and 7 > 3",
            first_paragraph="Text <script>alert(1)</script> & more is text, not markup.",
            source="A & B",
            published=_utc(2021, 1, 14),
        ),
        _article_text(
            "Tom & Jerry: 5 < 6 and 7 > 3",
            "Text <script>alert(1)</script> & more is text, not markup.",
            "date 2021-01-14 A & B",
        ),
    )
    c.accept(
        "controls.txt",
        Expected(
            title="Stray controls are dropped",
            first_paragraph="Bell and escape are gone.",
            published=_utc(2021, 1, 15),
        ),
        b"date 2021-01-15\nStray \x07controls are dropped\x1b\n\nBell and\x0b escape are gone.\n",
    )
    c.accept(
        "headerless.txt",
        Expected(
            title="No date header at all",
            first_paragraph="Dated by the file.",
            warns=True,
        ),
        "No date header at all\n\nDated by the file.\n",
    )
    # A symlink to a file inside the folder is an article of its own (its own path and id).
    c.symlink("link to crlf.txt", "crlf.txt")
    c.good["link to crlf.txt"] = c.good["crlf.txt"]


def _bad(c: Corpus) -> None:
    c.reject("empty.txt", "empty", b"")
    c.reject("blank.txt", "whitespace", b"  \n\t\r\n   \n")
    c.reject("nul.txt", "NUL", b"date 2021-01-01 X\nLooks like text\x00\n\nbut is not.\n")
    c.reject("image.txt", "PNG", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    c.reject("controls-only.txt", "binary", bytes(range(1, 9)) * 200)
    c.reject("header-only.txt", "no headline", "date 2021-01-01 UrduPoint.com\n\n\n")
    c.reject("nested/empty again.txt", "empty", b"")
    c.reject("over/just over.txt", "max_article_bytes", b"a" * (MiB + 1))
    # 30 MB, sparse so it costs nothing to write; must be refused without being read.
    huge = c.write("over/huge 30MB.txt", b"")
    os.truncate(huge, 30 * MiB)
    c.bad["over/huge 30MB.txt"] = "max_article_bytes"


def _not_candidates(c: Corpus, *, special_files: bool) -> None:
    c.skip(".hidden.txt")
    c.skip(".hidden folder/visible name.txt")
    c.skip("sub/.git/objects/x.txt")
    c.skip("notes.txt~")
    c.skip(".#notes.txt")
    c.skip("notes.txt.swp")
    c.skip("notes.tmp")
    c.skip("4913")
    c.skip("#notes.txt#")
    c.skip("readme.md")
    c.skip("NOTES.TXT.bak")

    outside = c.root.parent / (c.root.name + "-outside")
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("date 2021-01-01 X\nSecret outside\n\nNever publish.\n")
    (outside / "dir").mkdir(exist_ok=True)
    (outside / "dir" / "also secret.txt").write_text("date 2021-01-01 X\nAlso secret\n\nNo.\n")
    c.outside = outside

    for name, target in {
        "passwd.txt": "/etc/passwd",
        "secret link.txt": outside / "secret.txt",
        "relative escape.txt": f"../{outside.name}/secret.txt",
        "outside folder": outside / "dir",
        "loop.txt": "loop.txt",
        "loop a.txt": "loop b.txt",
        "loop b.txt": "loop a.txt",
        "dangling.txt": "does not exist.txt",
        "a/b/up": "../..",  # a folder symlink back to the root: no infinite walk
        "zero.txt": "/dev/zero",
    }.items():
        c.symlink(name, target)
        c.skipped.add(name)
    c.skipped.update({"outside folder/also secret.txt", "a/b/up/crlf.txt"})

    if special_files:
        os.mkfifo(c.root / "fifo.txt")
        c.skipped.add("fifo.txt")
        os.mkfifo(c.root / "nested" / "pipe.txt")
        c.skipped.add("nested/pipe.txt")
        try:  # /dev/zero's numbers: reading it would never end
            os.mknod(c.root / "device.txt", stat.S_IFCHR | 0o644, os.makedev(1, 5))
        except (PermissionError, OSError):
            pass
        else:
            c.skipped.add("device.txt")
