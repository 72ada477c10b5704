"""Faults, against the real `feedd serve` and `feedd build`: the folder moved, replaced or made
unreadable, files vanishing or growing while they are read, the watcher failing for real
(inotify limits, in a user namespace of its own), the disk full or read-only and `kill -9`
during a build. In each case: a log line naming the cause, the last good site still served (or
still on disk, every file whole), and full recovery once the cause is gone.

Tests that say what feedd should do but does not yet are marked xfail(strict): their reason
names the module at fault.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import lxml.etree
import lxml.html
import pytest
from helpers import (
    Daemon,
    article,
    inotify_limits,
    running_daemon,
    wait_for,
    without_file_permission_bypass,
)

from feedd import cli
from feedd.publish.folder import MANIFEST

_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
# How long a test waits for what a fixed feedd would do at once (polling sees a file within
# half a second): the price, in CI time, of each expected failure below.
_SOON = 2.0


@contextlib.contextmanager
def serving(
    seeds: Path, *args: str, prefix: tuple[str, ...] = (), timeout: float = 20.0
) -> Iterator[Daemon]:
    """`serving.running_daemon` under a command `prefix`, whose log must end free of
    tracebacks and failed updates."""
    with running_daemon(seeds, *args, prefix=prefix, timeout=timeout) as daemon:
        yield daemon
        assert not daemon.logged("Traceback|update failed"), "".join(daemon.log)


def titles(daemon: Daemon) -> set[str] | None:
    """The titles in every feed, or None while they disagree (fetched across an update)."""
    atom, rss = daemon.titles("/feed.atom"), daemon.titles("/feed.rss")
    items = json.loads(daemon.get("/feed.json").body)["items"]
    return atom if atom == rss == {item["title"] for item in items} else None


def has(daemon: Daemon, title: str) -> bool:
    return title in (titles(daemon) or ())


def updates(daemon: Daemon) -> int:
    return _counter(daemon, "feedd_updates_total")


def _counter(daemon: Daemon, name: str) -> int:
    metrics = daemon.get("/metrics").body.decode()
    return int(re.search(rf"^{name} (\d+)$", metrics, re.M).group(1))  # type: ignore[union-attr]


# --- the watched folder moved, replaced, deleted ------------------------------------------------
# test_daemon.py moves it away and creates a new one; these bring the same one back, changed,
# and put a file in its place.


def test_folder_moved_away_changed_and_moved_back(seeds: Path, tmp_path: Path) -> None:
    with serving(seeds) as daemon:
        away = tmp_path / "away"
        seeds.rename(away)
        wait_for(lambda: daemon.logged("seeds is missing; keeping what was published"))
        assert titles(daemon) == {"Alpha", "Bravo"}
        # What happens to it while it is away is seen once it is back, through the rescan.
        (away / "a.txt").write_text(article("Alpha, edited while away"))
        (away / "b.txt").unlink()
        (away / "c.txt").write_text(article("Charlie"))
        away.rename(seeds)
        wait_for(lambda: titles(daemon) == {"Alpha, edited while away", "Charlie"}, what="return")
        (seeds / "d.txt").write_text(article("Delta"))
        wait_for(lambda: has(daemon, "Delta"), what="the watcher restarted")
        assert daemon.health()["articles"] == 3


def test_folder_replaced_by_a_file_and_restored(seeds: Path, tmp_path: Path) -> None:
    with serving(seeds, "--rescan-interval", "0.2") as daemon:
        seeds.rename(tmp_path / "old")
        seeds.write_text("a file where the folder was\n")
        wait_for(lambda: daemon.logged("seeds was removed or replaced"), what="the notice")
        rescans = len(daemon.logged("seeds is missing; keeping what was published"))
        wait_for(lambda: len(daemon.logged("is missing; keeping")) > rescans, what="a rescan")
        assert titles(daemon) == {"Alpha", "Bravo"}, "the last good site stays served"
        assert daemon.health()["articles"] == 2
        seeds.unlink()
        seeds.mkdir()
        (seeds / "c.txt").write_text(article("Charlie"))
        wait_for(lambda: titles(daemon) == {"Charlie"}, what="the new folder")
        (seeds / "d.txt").write_text(article("Delta"))
        wait_for(lambda: titles(daemon) == {"Charlie", "Delta"}, what="the watcher restarted")


def test_pages_of_the_last_good_site_answer_while_the_folder_is_away(
    seeds: Path, tmp_path: Path
) -> None:
    with serving(seeds) as daemon:
        seeds.rename(tmp_path / "away")
        wait_for(lambda: daemon.logged("seeds is missing; keeping what was published"))
        for entry in daemon.feed().entries:
            page = "/" + entry.link.split("/", 3)[3]
            # Its text may be gone, but not for good: not a 404 (readers drop those links).
            assert daemon.get(page).status in (200, 503), page


# --- a subfolder and a file made unreadable, then readable again -------------------------------


@pytest.fixture
def with_subfolder(seeds: Path) -> Iterator[Path]:
    sub = seeds / "sub"
    sub.mkdir()
    (sub / "s.txt").write_text(article("Sierra"))
    yield sub
    sub.chmod(0o755)  # or pytest cannot remove it


def test_unreadable_subfolder_and_file_then_readable_again(
    seeds: Path, with_subfolder: Path
) -> None:
    prefix = without_file_permission_bypass()
    with serving(seeds, prefix=prefix) as daemon:
        assert titles(daemon) == {"Alpha", "Bravo", "Sierra"}
        with_subfolder.chmod(0)
        (seeds / "b.txt").chmod(0)
        wait_for(lambda: daemon.logged(r"rejected sub: cannot list folder: Permission denied"))
        wait_for(lambda: daemon.logged(r"rejected b\.txt: cannot read: Permission denied"))
        assert has(daemon, "Alpha")
        assert daemon.health()["rejected"] == 2
        with_subfolder.chmod(0o755)
        (seeds / "b.txt").chmod(0o644)
        wait_for(lambda: titles(daemon) == {"Alpha", "Bravo", "Sierra"}, what="recovery")
        assert daemon.health()["rejected"] == 0
        (with_subfolder / "t.txt").write_text(article("Tango"))
        wait_for(lambda: has(daemon, "Tango"), what="the subfolder still watched")


def test_articles_under_an_unreadable_subfolder_stay_published(
    seeds: Path, with_subfolder: Path
) -> None:
    prefix = without_file_permission_bypass()
    with serving(seeds, prefix=prefix) as daemon:
        with_subfolder.chmod(0)
        wait_for(lambda: daemon.logged(r"rejected sub: cannot list folder: Permission denied"))
        assert titles(daemon) == {"Alpha", "Bravo", "Sierra"}


def test_subfolder_unreadable_at_start_is_watched_once_readable(
    seeds: Path, with_subfolder: Path
) -> None:
    prefix = without_file_permission_bypass()
    with_subfolder.chmod(0)
    with serving(seeds, prefix=prefix) as daemon:
        wait_for(lambda: daemon.logged(r"rejected sub: cannot list folder: Permission denied"))
        with_subfolder.chmod(0o755)
        wait_for(lambda: has(daemon, "Sierra"), what="the subfolder readable")
        (with_subfolder / "t.txt").write_text(article("Tango"))
        wait_for(lambda: has(daemon, "Tango"), _SOON, "a file added to it")


# --- files vanishing or growing while they are read ---------------------------------------------


def test_files_vanishing_between_the_event_and_the_read(seeds: Path) -> None:
    # Rescans every 20 ms as well, so the walk races the deletions too (stat, then open).
    with serving(seeds, "--rescan-interval", "0.02") as daemon:
        for i in range(300):
            gone = seeds / f"gone-{i}.txt"
            gone.write_text(article(f"Gone {i}"))
            gone.unlink()
        for i in range(30):
            folder = seeds / f"folder-{i}"
            folder.mkdir()
            (folder / "x.txt").write_text(article(f"Folder {i}"))
            shutil.rmtree(folder)
        # The same name turning into something that is not an article, between two reads.
        (seeds / "turns.txt").write_text(article("Turns"))
        (seeds / "turns.txt").unlink()
        (seeds / "turns.txt").mkdir()
        (seeds / "pipe.txt").write_text(article("Pipe"))
        (seeds / "pipe.txt").unlink()
        os.mkfifo(seeds / "pipe.txt")
        (seeds / "last.txt").write_text(article("Last"))  # its event comes after all of those
        wait_for(lambda: has(daemon, "Last"), what="the last file")
        assert titles(daemon) == {"Alpha", "Bravo", "Last"}
        assert daemon.health() | {"updated": None} == {
            "status": "ok",
            "articles": 3,
            "rejected": 0,
            "updated": None,
            "checked": True,
        }
        assert daemon.get("/articles/gone-0.html").status == 404


def test_file_growing_while_read(seeds: Path) -> None:
    with serving(seeds, "--max-article-bytes", "20000") as daemon:
        growing = seeds / "growing.txt"
        before = updates(daemon)
        with growing.open("w") as file:
            file.write(" date 2021-01-05 Wire\nGrowing\n\n")
            paragraph = 0
            # Append until the daemon has read the file several times as it grew.
            while updates(daemon) < before + 5 and paragraph < 300:
                file.write(f"Paragraph {paragraph}.\n\n")
                file.flush()
                paragraph += 1
            file.write("The end.\n")
        assert paragraph < 300, "the daemon never read the file while it grew"
        wait_for(lambda: b"The end." in daemon.get("/articles/growing.html").body, what="the end")
        page = daemon.get("/articles/growing.html").body.decode()
        assert all(page.count(f"Paragraph {i}.<") == 1 for i in range(paragraph)), page
        # Growing past max_article_bytes while it is read: rejected, never read past it.
        with growing.open("a") as file:
            while file.tell() <= 20000:
                file.write("More. " * 100 + "\n\n")
                file.flush()
        wait_for(lambda: daemon.logged(r"rejected growing\.txt: larger than max_article_bytes"))
        assert titles(daemon) == {"Alpha", "Bravo"}
        growing.write_text(article("Growing, cut back"))
        wait_for(lambda: titles(daemon) == {"Alpha", "Bravo", "Growing, cut back"}, what="fix")
        assert daemon.health()["rejected"] == 0


# --- the watcher failing for real: inotify limits -----------------------------------------------
# The daemon runs in a user namespace of its own, whose inotify limits (/proc/sys/user/
# max_inotify_*) the test sets and lifts without touching the rest of the machine. They are
# what an exhausted fs.inotify.max_user_instances or max_user_watches gives.


def _lift_inotify_limits(daemon: Daemon) -> None:
    script = (
        "echo 100000 > /proc/sys/user/max_inotify_watches"
        " && echo 100 > /proc/sys/user/max_inotify_instances"
    )
    subprocess.run(
        ["nsenter", "--user", f"--target={daemon.process.pid}", "sh", "-c", script],
        check=True,
        timeout=30,
    )


def test_the_folder_deleted_and_made_again_in_its_place(seeds: Path) -> None:
    """`rm -rf seeds && mkdir seeds`: the new folder may get the old one's inode at once, so
    what says the folder was replaced is the event of its deletion."""
    with serving(seeds) as daemon:
        shutil.rmtree(seeds)
        (seeds / "sub").mkdir(parents=True)
        (seeds / "sub" / "two.txt").write_text(article("Two"))
        wait_for(lambda: daemon.titles() == {"Two"}, what="the folder made again")
        (seeds / "three.txt").write_text(article("Three"))
        wait_for(lambda: daemon.titles() == {"Two", "Three"}, _SOON, "a file in it, at once")


def test_a_tree_a_thousand_folders_deep(seeds: Path, tmp_path: Path) -> None:
    """Deeper than Python's recursion limit: walks must not recurse."""
    levels = ["d"] * 1100
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for name in ["deep", *levels]:  # one level at a time: a path too long for one call
            os.mkdir(name, dir_fd=fd)
            fd, parent = os.open(name, os.O_RDONLY, dir_fd=fd), fd
            os.close(parent)
        with os.fdopen(os.open("x.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as file:
            file.write(article("Deep"))
    finally:
        os.close(fd)
    try:
        with serving(seeds) as daemon:
            (tmp_path / "deep").rename(seeds / "deep")
            wait_for(lambda: has(daemon, "Deep"), what="the article at the bottom")
            (seeds / "c.txt").write_text(article("Charlie"))
            wait_for(lambda: has(daemon, "Charlie"), _SOON, "a file beside it, at once")
            assert not daemon.logged("recursion|watcher failed")
    finally:
        # shutil.rmtree (and pytest's clean-up with it) recurses: rm does not.
        subprocess.run(["rm", "-rf", seeds / "deep", tmp_path / "deep"], check=True)


def test_a_name_that_is_not_utf8_is_rejected_once_and_disturbs_nothing(seeds: Path) -> None:
    """The other files must not wait, and the file is reported once, with its reason."""
    with serving(seeds) as daemon:
        with open(os.path.join(os.fsencode(seeds), b"\xff.txt"), "wb") as writer:
            for i in range(5):
                writer.write(article(f"Not UTF-8 {i}").encode())
                writer.flush()
                (seeds / f"ok-{i}.txt").write_text(article(f"Fine {i}"))
                wait_for(lambda i=i: has(daemon, f"Fine {i}"), _SOON, "the other file")
        wait_for(lambda: daemon.health()["rejected"] == 1, what="the rejection")
        rejected = daemon.logged(r"rejected .xff\.txt: file name is not valid UTF-8")
        assert len(rejected) == 1, daemon.log


def test_what_links_lead_to_follows_their_target(seeds: Path) -> None:
    """Links inside the folder are followed: an article read through a link to a folder or a
    file changes and goes with the file it leads to, at its event (not at a rescan)."""
    (seeds / "d0").mkdir()
    (seeds / "d0" / "x.txt").write_text(article("Ex"))
    (seeds / "d0" / "y.txt").write_text(article("Why"))
    (seeds / "alias").symlink_to("d0")
    (seeds / "link.txt").symlink_to("d0/x.txt")
    with serving(seeds, "--rescan-interval", "0") as daemon:

        def titles(path: str) -> str | None:
            page = daemon.get(path)
            return lxml.html.fromstring(page.body).findtext(".//h1") if page.status == 200 else None

        assert titles("/articles/alias/x.html") == titles("/articles/link.html") == "Ex"
        (seeds / "d0" / "x.txt").write_text(article("Ex, edited"))
        wait_for(
            lambda: titles("/articles/alias/x.html") == "Ex, edited", _SOON, "via the folder link"
        )
        wait_for(lambda: titles("/articles/link.html") == "Ex, edited", _SOON, "via the file link")
        (seeds / "d0" / "y.txt").unlink()
        wait_for(lambda: titles("/articles/alias/y.html") is None, _SOON, "gone via the link")


def test_inotify_instance_limit_then_lifted(seeds: Path) -> None:
    with serving(seeds, prefix=inotify_limits(watches=100, instances=0)) as daemon:
        wait_for(lambda: daemon.logged("Too many open files"))
        assert titles(daemon) == {"Alpha", "Bravo"}
        (seeds / "c.txt").write_text(article("Charlie"))
        _lift_inotify_limits(daemon)
        wait_for(lambda: has(daemon, "Charlie"), what="the rescan once watching")
        (seeds / "d.txt").write_text(article("Delta"))
        wait_for(lambda: has(daemon, "Delta"), what="the watcher working")


def test_inotify_instance_limit_falls_back_to_polling(seeds: Path) -> None:
    with serving(seeds, prefix=inotify_limits(watches=100, instances=0)) as daemon:
        wait_for(lambda: daemon.logged("Too many open files"))
        (seeds / "c.txt").write_text(article("Charlie"))
        wait_for(lambda: has(daemon, "Charlie"), _SOON, "polling")


def test_inotify_watch_limit_is_reported_and_polled(seeds: Path) -> None:
    with serving(seeds, prefix=inotify_limits(watches=0, instances=100)) as daemon:
        (seeds / "c.txt").write_text(article("Charlie"))
        wait_for(lambda: daemon.logged("inotify limit reached"), _SOON, "the notice")
        wait_for(lambda: has(daemon, "Charlie"), _SOON, "polling")


def test_folder_created_past_the_watch_limit_is_still_followed(seeds: Path, tmp_path: Path) -> None:
    with serving(seeds, prefix=inotify_limits(watches=1, instances=100)) as daemon:
        # The watch is in place, and its watches counted, once it says it is watching.
        wait_for(lambda: daemon.logged("for changes"), what="the watch in place")
        (tmp_path / "new").mkdir()
        (tmp_path / "new" / "c.txt").write_text(article("Charlie"))
        (tmp_path / "new").rename(seeds / "new")
        wait_for(lambda: has(daemon, "Charlie"), what="the folder moved in")  # its event
        (seeds / "new" / "d.txt").write_text(article("Delta"))
        wait_for(lambda: has(daemon, "Delta"), _SOON, "a file added to it")


# --- `feedd build` on a full disk, a read-only folder, killed -----------------------------------
# The build that meets the fault runs as a command; the ones before and after it, which only set
# the scene or check the recovery, run `feedd build` in the test process, to save a start-up.


def build(
    seeds: Path,
    out: Path,
    *,
    prefix: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """`feedd build` as a command: its exit status and its log."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "feedd", "build", "--seeds", str(seeds), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec_fn,
        check=False,
    )
    return done.returncode, done.stderr


def build_here(seeds: Path, out: Path) -> int:
    return cli.main(["build", "--seeds", str(seeds), "--out", str(out)])


def write_articles(seeds: Path, version: str, count: int = 15) -> None:
    """`count` articles of a few KB; the "new" version edits, deletes and adds some (titles
    and text keep their lengths, so both versions' files have about the same sizes)."""
    seeds.mkdir(exist_ok=True)
    for path in seeds.glob("*.txt"):
        path.unlink()
    first = 5 if version == "new" else 0
    for i in range(first, count + first):
        text = article(f"{version} {i}", body=f"{version} paragraph {i}. " * 150)
        (seeds / f"a{i:04}.txt").write_text(text)


def new_titles(count: int = 15) -> set[str]:
    return {f"new {i}" for i in range(5, count + 5)}


def snapshot(out: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()
    }


def temporaries(files: dict[str, bytes]) -> list[str]:
    return [name for name in files if name.endswith(".tmp")]


def assert_whole(files: dict[str, bytes], *versions: dict[str, bytes]) -> None:
    """Every document is one of `versions` of it, byte for byte, and parses."""
    for name, data in files.items():
        if name.endswith(".tmp"):
            continue
        if name != MANIFEST:
            assert any(data == version.get(name) for version in versions), name
        _parse(name.removesuffix(".gz"), gzip.decompress(data) if name.endswith(".gz") else data)


def _parse(name: str, data: bytes) -> None:
    if name.endswith((".atom", ".rss")):
        parsed = feedparser.parse(data)
        assert not parsed.bozo and parsed.entries, (name, parsed.get("bozo_exception"))
    elif name.endswith(".json") or name == MANIFEST:
        json.loads(data)
    elif name.endswith(".opml"):
        lxml.etree.fromstring(data)
    else:
        assert name.endswith(".html") and data.rstrip().endswith(b"</html>"), name
        assert lxml.html.document_fromstring(data).find(".//h1") is not None, name


def feed_titles(out: Path) -> set[str]:
    return {entry.title for entry in feedparser.parse((out / "feed.atom").read_bytes()).entries}


LAST = ("feed.atom", "feed.rss", "feed.json", "index.html", "feeds.opml")


def test_build_over_the_file_size_limit_keeps_the_previous_site(tmp_path: Path) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    write_articles(seeds, "old")
    assert build_here(seeds, out) == 0
    old = snapshot(out)
    # A limit every page fits under and no feed does: it is met half-way through the write.
    pages = max(len(data) for name, data in old.items() if name.startswith("articles/"))
    feeds = min(len(old[name]) for name in ("feed.atom", "feed.rss", "feed.json"))
    assert pages < feeds
    limit = (pages + feeds) // 2

    def file_size_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    write_articles(seeds, "new")
    code, log = build(seeds, out, preexec_fn=file_size_limit)
    assert code == 1
    assert re.search(rf"cannot write {out}: \[Errno 27\] File too large: '{out}/[\w./]+'", log), log
    limited = snapshot(out)
    assert not temporaries(limited)
    # The feeds and the index are replaced together or not at all: here, all are the old ones.
    assert all(limited[name] == old[name] for name in LAST)
    assert all(limited[name + ".gz"] == old[name + ".gz"] for name in LAST)
    assert build_here(seeds, out) == 0
    new = snapshot(out)
    assert feed_titles(out) == new_titles()
    assert_whole(limited, old, new)
    assert_whole(new, new)
    assert any(limited[name] == new[name] != old.get(name) for name in limited), "no page written"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for the test (root only)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=755", "tmpfs", str(mount)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], timeout=30, check=True)


def _remount(mount: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], timeout=30, check=True)


def test_build_on_a_read_only_then_full_disk(tmp_path: Path, small_disk: Path) -> None:
    seeds, out = tmp_path / "seeds", small_disk / "site"
    write_articles(seeds, "old")
    assert build_here(seeds, out) == 0
    old = snapshot(out)

    # Read-only: with nothing to change, no error; with something to change, one naming it.
    _remount(small_disk, "ro")
    assert build_here(seeds, out) == 0
    write_articles(seeds, "new")
    code, log = build(seeds, out)
    assert code == 1 and f"cannot write {out}: [Errno 30] Read-only file system" in log, log
    assert snapshot(out) == old
    _remount(small_disk, "rw")

    # Full: the first file that does not fit stops the write; what is there stays whole.
    filler = small_disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as file:
        while True:
            file.write(b"\0" * 65536)
    code, log = build(seeds, out)
    assert code == 1 and f"cannot write {out}: [Errno 28] No space left on device" in log, log
    assert snapshot(out) == old

    filler.unlink()
    assert build_here(seeds, out) == 0
    assert feed_titles(out) == new_titles()
    assert_whole(snapshot(out), snapshot(out))


def test_build_into_a_folder_it_may_not_write(tmp_path: Path) -> None:
    prefix = without_file_permission_bypass()
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    write_articles(seeds, "old")
    assert build_here(seeds, out) == 0
    old = snapshot(out)
    write_articles(seeds, "new")
    for folder in (out, out / "articles"):
        folder.chmod(0o555)
    try:
        code, log = build(seeds, out, prefix=prefix)
    finally:
        for folder in (out, out / "articles"):
            folder.chmod(0o755)
    assert code == 1 and f"cannot write {out}: [Errno 13] Permission denied: '{out}/" in log, log
    assert snapshot(out) == old
    assert build_here(seeds, out) == 0
    assert feed_titles(out) == new_titles()


def test_build_killed_mid_write_leaves_only_whole_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    write_articles(seeds, "old", count=60)
    assert build_here(seeds, out) == 0
    old = snapshot(out)
    write_articles(seeds, "new", count=60)
    process = subprocess.Popen(
        [sys.executable, "-m", "feedd", "build", "--seeds", str(seeds), "--out", str(out)],
        stderr=subprocess.DEVNULL,
    )
    try:
        # Pages are written in order: kill it a quarter of the way through them.
        page = out / "articles" / "a0015.html"
        wait_for(lambda: b"new 15" in page.read_bytes() or process.poll() is not None)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL, "the build ended before it was killed"
    killed = snapshot(out)
    for name in temporaries(killed):  # the files being written, if any: hidden, never linked
        assert re.fullmatch(r"(.*/)?\.feedd-\w+\.tmp", name), name
    assert all(killed[name] == old[name] for name in LAST)

    with caplog.at_level(logging.INFO, logger="feedd"):
        assert build_here(seeds, out) == 0
    left = len(temporaries(killed))
    notice = f"removed {left} temporary files left by an interrupted write"
    assert (notice in caplog.messages) == bool(left), caplog.messages
    new = snapshot(out)
    assert not temporaries(new), "the next build removes what the killed one left"
    assert "articles/a0000.html" not in new and "articles/a0064.html" in new
    assert_whole(killed, old, new)
    assert_whole(new, new)


def test_a_second_build_into_the_same_folder_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    write_articles(seeds, "old", count=3)
    assert build_here(seeds, out) == 0
    before = snapshot(out)
    write_articles(seeds, "new", count=3)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a build still running holds it
        assert build_here(seeds, out) == 1
        assert f"[Errno {errno.EBUSY}] another feedd build is writing this folder" in caplog.text
        assert snapshot(out) == before
    finally:
        os.close(fd)
    assert build_here(seeds, out) == 0
    assert feed_titles(out) == new_titles(3)
