"""The folder → articles layer, on real files: candidates, rejections, scan and apply."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import Corpus, article, build_corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from feedd.config import load_settings
from feedd.library import reading
from feedd.library.candidates import Candidates
from feedd.library.entries import Key
from feedd.library.library import Library
from feedd.library.reading import display_path


def library(seeds: Path, **overrides: Any) -> Library:
    return Library(load_settings(environ={}, overrides={"seeds": seeds, **overrides}))


def write(root: Path, relative: str, data: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def hostile(tmp_path: Path) -> Corpus:
    return build_corpus(tmp_path / "seeds")


# The corpus, read whole


def test_corpus_articles_field_by_field(hostile: Corpus) -> None:
    lib = library(hostile.root)
    lib.scan()
    assert set(lib.articles) == set(hostile.good)
    for path, expected in hostile.good.items():
        got = lib.articles[path]
        assert got.path == path
        assert got.title == expected.title, path
        assert got.author == expected.author, path
        assert got.source == expected.source, path
        assert got.summary.startswith(expected.first_paragraph), path
        if expected.published:
            assert got.published == expected.published, path
        else:  # dated by the file
            mtime = (hostile.root / path).stat().st_mtime
            assert got.published == datetime.fromtimestamp(mtime, UTC), path
        assert bool(got.warnings) == expected.warns, (path, got.warnings)


def test_corpus_rejections_with_reasons(hostile: Corpus) -> None:
    lib = library(hostile.root)
    lib.scan()
    assert set(lib.rejected) == set(hostile.bad)
    for path, fragment in hostile.bad.items():
        assert fragment in lib.rejected[path], (path, lib.rejected[path])


def test_corpus_non_candidates_are_never_seen(hostile: Corpus) -> None:
    lib = library(hostile.root)
    lib.scan()
    seen = set(lib.articles) | set(lib.rejected)
    assert not seen & hostile.skipped
    assert not any(path.startswith(("a/b/up/", "outside folder/")) for path in seen)
    texts = " ".join(a.title + " ".join(a.paragraphs) for a in lib.articles.values())
    assert "root:" not in texts
    assert "Secret" not in texts


def test_symlink_to_a_file_inside_is_an_article_of_its_own(hostile: Corpus) -> None:
    lib = library(hostile.root)
    lib.scan()
    link, real = lib.articles["link to crlf.txt"], lib.articles["crlf.txt"]
    assert link.title == real.title
    assert link.paragraphs == real.paragraphs
    assert link.id != real.id


def test_seeds_folder_given_through_a_symlink(hostile: Corpus, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(hostile.root)
    lib = library(alias)
    lib.scan()
    assert set(lib.articles) == set(hostile.good)


# Which files are candidates


def test_editor_temp_and_hidden_files_skipped_even_when_include_matches_them(
    tmp_path: Path,
) -> None:
    names = ["4913", "x~", ".#x", "x.swp", "x.swx", "x.tmp", "#x#", ".hidden", ".dir/plain"]
    for name in [*names, "plain", "sub/plain"]:
        write(tmp_path, name, article(name))
    lib = library(tmp_path, include=("*",))
    lib.scan()
    assert set(lib.articles) == {"plain", "sub/plain"}
    assert not lib.rejected


def test_include_patterns(tmp_path: Path) -> None:
    for name in ("a.txt", "b.md", "c.TXT", "d.txt.bak", "e"):
        write(tmp_path, name, article(name))
    lib = library(tmp_path, include=("*.txt", "*.md"))
    lib.scan()
    assert set(lib.articles) == {"a.txt", "b.md"}


@pytest.mark.parametrize(
    ("size", "rejected"),
    [(200, False), (201, True), (10_000, True)],
)
def test_size_limit_is_inclusive(tmp_path: Path, size: int, rejected: bool) -> None:
    text = article("Sized").encode()
    write(tmp_path, "x.txt", text + b"a" * (size - len(text)))
    lib = library(tmp_path, max_article_bytes=200)
    lib.scan()
    assert ("x.txt" in lib.rejected) is rejected
    assert ("x.txt" in lib.articles) is not rejected
    if rejected:
        assert "max_article_bytes" in lib.rejected["x.txt"]


def test_file_names_that_cannot_be_shown_are_rejected_not_fatal(tmp_path: Path) -> None:
    # Names are bytes on Linux: one that is not UTF-8 used to crash scan() (and so build,
    # check and serve) while minting the entry id.
    root = os.fsencode(tmp_path)
    for name in (b"latin1-\xe9t\xe9.txt", b"new\nline.txt", b"tab\there.txt", b"good.txt"):
        with open(os.path.join(root, name), "wb") as file:
            file.write(article("Named").encode())
    lib = library(tmp_path)
    changes = lib.scan()
    assert set(lib.articles) == {"good.txt"}
    reasons = {display_path(path): reason for path, reason in lib.rejected.items()}
    assert reasons == {
        "latin1-\\xe9t\\xe9.txt": "file name is not valid UTF-8",
        "new\\u000aline.txt": "file name contains control characters",
        "tab\\u0009here.txt": "file name contains control characters",
    }
    assert len(changes.new_rejections) == 3


def test_device_files_are_never_opened(tmp_path: Path) -> None:
    try:  # /dev/zero: reading it would return NULs forever
        os.mknod(tmp_path / "zero.txt", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    lib = library(tmp_path)
    assert not lib.scan()
    assert not lib.apply(["zero.txt"])
    assert not lib.articles
    assert not lib.rejected


# scan()


def test_scan_reports_each_rejection_once(hostile: Corpus) -> None:
    lib = library(hostile.root)
    first = lib.scan()
    assert first.changed == frozenset(hostile.good)
    assert dict(first.new_rejections) == lib.rejected
    assert not lib.scan()  # nothing changed: nothing reported
    # Re-reading everything finds the same reasons: still nothing new to report.
    again = lib.apply(sorted(set(hostile.good) | set(hostile.bad)))
    assert again.new_rejections == ()
    assert again.changed == frozenset()
    assert not lib.apply(["."])


def test_scan_follows_edits_and_deletions(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", article("One"))
    write(tmp_path, "b.txt", "")
    lib = library(tmp_path)
    lib.scan()
    write(tmp_path, "a.txt", article("One, edited at length"))
    (tmp_path / "b.txt").unlink()
    changes = lib.scan()
    assert changes.changed == {"a.txt"}
    assert lib.articles["a.txt"].title == "One, edited at length"
    assert not lib.rejected


# apply()


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    write(tmp_path, "keep.txt", article("Keep"))
    write(tmp_path, "one.txt", article("One"))
    write(tmp_path, "dir/two.txt", article("Two"))
    write(tmp_path, "dir/deeper/three.txt", article("Three"))
    write(tmp_path, "dir/broken.txt", "   \n")
    lib = library(tmp_path)
    lib.scan()
    assert len(lib.articles) == 4
    return lib


def root_of(lib: Library) -> Path:
    return Path(lib.root)


def test_apply_created(lib: Library) -> None:
    write(root_of(lib), "new.txt", article("New"))
    assert lib.apply(["new.txt"]).changed == {"new.txt"}
    assert lib.articles["new.txt"].title == "New"


def test_apply_edited(lib: Library) -> None:
    write(root_of(lib), "one.txt", article("One, edited"))
    assert lib.apply(["one.txt"]).changed == {"one.txt"}
    assert lib.articles["one.txt"].title == "One, edited"


def test_apply_deleted(lib: Library) -> None:
    (root_of(lib) / "one.txt").unlink()
    assert lib.apply(["one.txt"]).changed == {"one.txt"}
    assert "one.txt" not in lib.articles


def test_apply_renamed_file(lib: Library) -> None:
    os.rename(root_of(lib) / "one.txt", root_of(lib) / "uno.txt")
    changes = lib.apply(["one.txt", "uno.txt"])
    assert changes.changed == {"one.txt", "uno.txt"}
    assert "one.txt" not in lib.articles
    assert lib.articles["uno.txt"].title == "One"
    assert [a.title for a in lib.articles.values()].count("One") == 1


def test_apply_renamed_to_a_hidden_name(lib: Library) -> None:
    os.rename(root_of(lib) / "one.txt", root_of(lib) / ".one.txt")
    assert lib.apply(["one.txt", ".one.txt"]).changed == {"one.txt"}
    assert "one.txt" not in lib.articles
    assert ".one.txt" not in lib.articles


def test_apply_renamed_folder(lib: Library) -> None:
    os.rename(root_of(lib) / "dir", root_of(lib) / "folder")
    changes = lib.apply(["dir", "folder"])
    assert changes.changed == {
        "dir/two.txt",
        "dir/deeper/three.txt",
        "folder/two.txt",
        "folder/deeper/three.txt",
    }
    assert sorted(lib.articles) == [
        "folder/deeper/three.txt",
        "folder/two.txt",
        "keep.txt",
        "one.txt",
    ]
    assert set(lib.rejected) == {"folder/broken.txt"}
    assert changes.new_rejections == (("folder/broken.txt", "only whitespace"),)


def test_apply_deleted_folder(lib: Library) -> None:
    shutil.rmtree(root_of(lib) / "dir")
    changes = lib.apply(["dir"])
    assert changes.changed == {"dir/two.txt", "dir/deeper/three.txt"}
    assert sorted(lib.articles) == ["keep.txt", "one.txt"]
    assert not lib.rejected


def test_apply_file_turned_into_a_fifo(lib: Library) -> None:
    (root_of(lib) / "one.txt").unlink()
    os.mkfifo(root_of(lib) / "one.txt")
    assert lib.apply(["one.txt"]).changed == {"one.txt"}  # and it returned: never opened
    assert "one.txt" not in lib.articles
    assert "one.txt" not in lib.rejected
    assert not lib.scan()


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt"])
def test_apply_file_turned_into_a_symlink_out_of_the_folder(lib: Library, target: str) -> None:
    (root_of(lib).parent / "outside.txt").write_text(article("Outside"))
    (root_of(lib) / "one.txt").unlink()
    (root_of(lib) / "one.txt").symlink_to(target)
    assert lib.apply(["one.txt"]).changed == {"one.txt"}
    assert "one.txt" not in lib.articles
    assert not lib.scan()
    assert "one.txt" not in lib.articles


def test_apply_folder_turned_into_a_symlink_out_of_the_folder(lib: Library) -> None:
    outside = root_of(lib).parent / "elsewhere"
    write(outside, "two.txt", article("Secret"))
    shutil.rmtree(root_of(lib) / "dir")
    (root_of(lib) / "dir").symlink_to(outside)
    lib.apply(["dir", "dir/two.txt"])
    assert sorted(lib.articles) == ["keep.txt", "one.txt"]


def test_apply_file_turned_into_a_folder(lib: Library) -> None:
    (root_of(lib) / "one.txt").unlink()
    write(root_of(lib), "one.txt/inner.txt", article("Inner"))
    assert lib.apply(["one.txt"]).changed == {"one.txt", "one.txt/inner.txt"}
    assert "one.txt" not in lib.articles
    assert lib.articles["one.txt/inner.txt"].title == "Inner"


def test_apply_rejection_reported_once_then_fixed(lib: Library) -> None:
    write(root_of(lib), "one.txt", b"\x89PNG\r\n\x1a\n")
    changes = lib.apply(["one.txt"])
    assert changes.changed == {"one.txt"}  # the article went away
    assert changes.new_rejections == (("one.txt", "binary file (a PNG image)"),)
    assert "one.txt" not in lib.articles
    assert not lib.apply(["one.txt"])  # same reason again: not new
    assert not lib.scan()
    write(root_of(lib), "one.txt", article("One, fixed"))
    fixed = lib.apply(["one.txt"])
    assert fixed.changed == {"one.txt"}
    assert fixed.new_rejections == ()
    assert fixed.cleared == {"one.txt"}
    assert lib.articles["one.txt"].title == "One, fixed"
    assert "one.txt" not in lib.rejected


def test_apply_rejected_file_deleted_is_forgotten(lib: Library) -> None:
    (root_of(lib) / "dir" / "broken.txt").unlink()
    changes = lib.apply(["dir/broken.txt"])
    assert not lib.rejected
    # No article changed, but the site's count of rejected files did: worth a new render.
    assert changes.cleared == {"dir/broken.txt"}
    assert changes
    assert not lib.apply(["dir/broken.txt"])


def test_scan_reports_a_rejection_cleared(lib: Library) -> None:
    write(root_of(lib), "dir/broken.txt", article("Mended"))
    changes = lib.scan()
    assert changes.changed == {"dir/broken.txt"}
    assert changes.cleared == {"dir/broken.txt"}
    assert not lib.scan()


def test_apply_ignores_non_candidates(lib: Library) -> None:
    root = root_of(lib)
    for name in (".hidden.txt", "4913", "one.txt~", "notes.md", ".git/x.txt"):
        write(root, name, article(name))
    assert not lib.apply([".hidden.txt", "4913", "one.txt~", "notes.md", ".git/x.txt", ".git"])
    assert len(lib.articles) == 4


def test_apply_normalises_paths(lib: Library) -> None:
    write(root_of(lib), "dir/two.txt", article("Two, edited"))
    for messy in ("./dir//two.txt", "/dir/two.txt", "dir/deeper/../two.txt", "dir/"):
        lib.apply([messy])
        assert lib.articles["dir/two.txt"].title == "Two, edited", messy
    assert not lib.apply(["../outside.txt"])
    assert len(lib.articles) == 4


def test_apply_root_rereads_everything(lib: Library) -> None:
    (root_of(lib) / "keep.txt").unlink()
    write(root_of(lib), "added.txt", article("Added"))
    assert lib.apply([""]).changed == {"keep.txt", "added.txt"}
    assert "added.txt" in lib.articles


def test_apply_on_a_folder_with_a_symlink_back_to_an_ancestor(hostile: Corpus) -> None:
    # a/b/up -> ../.. (the root): a scan skips it, and so must apply(["a"]); it used to
    # publish the whole tree a second time under a/b/up/.
    lib = library(hostile.root)
    lib.scan()
    before = dict(lib.articles)
    assert not lib.apply(["a"])
    assert not lib.apply(["a/b/up"])
    assert not lib.apply(["a/b/up/crlf.txt"])
    assert lib.articles == before


def test_a_batch_of_paths_finds_what_each_path_finds_alone(hostile: Corpus, tmp_path: Path) -> None:
    """`walk_paths` checks each folder once for a batch (a burst of files); it must find
    exactly what `walk` finds path by path, links in and out, loops, FIFOs and all."""
    root = hostile.root
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside, "o.txt", article("outside"))
    write(root, "sub/plain.txt", article("plain"))
    (root / "sub" / "out.txt").symlink_to(outside / "o.txt")
    (root / "sub" / "in.txt").symlink_to(root / "sub" / "plain.txt")
    (root / "linked").symlink_to(outside)
    (root / "sub" / "loop").symlink_to(root / "sub")
    paths = {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, folders, files in os.walk(root)
        for name in folders + files
    }
    paths |= {"missing.txt", "sub/missing.txt", "linked/o.txt", "sub/loop/plain.txt"}
    paths |= {"a/b/up/crlf.txt", "nowhere/x.txt", "sub/plain.txt/x.txt"}
    candidates = Candidates(os.path.realpath(root), ("*.txt",))
    one_by_one = {}
    for path in paths:
        one_by_one.update(candidates.walk(path))
    assert dict(candidates.walk_paths(paths)) == one_by_one
    assert "sub/plain.txt" in one_by_one and "sub/in.txt" in one_by_one
    assert not {"sub/out.txt", "linked/o.txt", "sub/loop/plain.txt"} & one_by_one.keys()


def test_unlistable_folder_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root lists any folder; test_cli covers this with capabilities dropped")
    write(tmp_path, "locked/a.txt", article("Locked"))
    lib = library(tmp_path)
    (tmp_path / "locked").chmod(0)
    try:
        lib.scan()
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert lib.rejected == {"locked": "cannot list folder: Permission denied"}
    assert lib.apply(["locked"]).changed == {"locked/a.txt"}
    assert not lib.rejected


def test_deeply_nested_folders(tmp_path: Path) -> None:
    # Deeper than Python's recursion limit; the walk used to die with RecursionError.
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(1100):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as file:
            file.write(article("Deep"))
    finally:
        os.close(fd)
    path = "d/" * 1100 + "deep.txt"
    try:
        lib = library(tmp_path)
        lib.scan()
        assert list(lib.articles) == [path]
        assert lib.apply(["d"]).changed == frozenset()
        assert lib.apply([path]).changed == frozenset()
    finally:
        # shutil.rmtree (and so pytest's clean-up) recurses too: take the chain apart from the top.
        (tmp_path / path).unlink()
        top, spare = tmp_path / "d", tmp_path / "spare"
        while (top / "d").exists():
            (top / "d").rename(spare)
            top.rmdir()
            spare.rename(top)
        top.rmdir()


def test_more_newest_than_a_bulk_read_still_come_whole(tmp_path: Path) -> None:
    for i in range(400):
        write(tmp_path, f"{i:03}.txt", article(f"Number {i}"))
    lib = library(tmp_path, max_entries=300)
    lib.scan()
    assert len(lib.newest()) == 300


def test_an_edit_that_keeps_updated_is_still_a_change(tmp_path: Path) -> None:
    # Dated in the future, `updated` stays the article's date whatever the file's mtime.
    write(tmp_path, "a.txt", " date 2099-01-02 Wire\nFirst headline\n\nBody.\n")
    lib = library(tmp_path)
    lib.scan()
    before = lib.entries["a.txt"]
    write(tmp_path, "a.txt", " date 2099-01-02 Wire\nCorrected headline\n\nA longer body.\n")
    changes = lib.apply(["a.txt"])
    assert changes.changed == {"a.txt"}
    assert lib.entries["a.txt"].updated == before.updated
    assert [a.title for a in lib.newest()] == ["Corrected headline"]


# Per-source lists and the archive


@pytest.mark.parametrize("count", [5, 300])  # one by one, and in bulk
def test_sources_and_archive_follow_every_change(tmp_path: Path, count: int) -> None:
    seeds = tmp_path / "seeds"
    for i in range(count):
        source = ("Wire", "Dawn News", "TASS")[i % 3]
        write(seeds, f"d{i % 4}/a{i}.txt", f" date 2021-01-{1 + i % 28:02} {source}\nA{i}\n\nB.\n")
    lib = library(seeds, max_entries=2)
    lib.scan()
    assert lib.take_touched_sources() == {"Wire", "Dawn News", "TASS"}
    for source in ("Wire", "Dawn News", "TASS"):
        expected = sorted(
            (e for e in lib.entries.values() if e.source == source), key=lambda e: e.key
        )[::-1][:2]
        assert list(lib.newest_of(source)) == expected
    carried = lib.newest()
    oldest = (carried[-1].published, carried[-1].updated, carried[-1].path)
    newest = {a.path for a in carried}
    archived = lib.archived(oldest)
    assert set(archived) == {e.key for e in lib.entries.values() if e.path not in newest}
    assert list(archived) == sorted(archived)

    # An article moves from Wire to TASS; another goes away: both sources are touched.
    write(seeds, "d0/a0.txt", " date 2021-01-01 TASS\nA0\n\nB.\n")
    (seeds / "d1/a1.txt").unlink()
    lib.apply(["d0/a0.txt", "d1/a1.txt"])
    assert lib.take_touched_sources() == {"Wire", "TASS", "Dawn News"}
    assert lib.take_touched_sources() == set()
    assert all(e.source == "TASS" for e in lib.newest_of("TASS"))
    assert lib.newest_of("Nobody") == ()
    for path in list(lib.entries):
        (seeds / path).unlink()
    lib.scan()
    assert lib.newest_of("TASS") == () and tuple(lib.archived(None)) == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "delete"]), st.integers(0, 40), st.integers(1, 28)),
        max_size=25,
    )
)
def test_an_archive_snapshot_holds_while_the_library_moves_on(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int]]
) -> None:
    """`archived` hands out a prefix of a shared copy of the order, copied again only when the
    order changed below the prefix's end: every prefix handed out must keep its keys, and each
    new one must list exactly the keys below its bound."""
    seeds = tmp_path_factory.mktemp("seeds")
    for i in range(10):
        write(seeds, f"a{i}.txt", f" date 2021-01-{1 + i:02} Wire\nA{i}\n\nB.\n")
    lib = library(seeds, max_entries=3)
    lib.scan()
    handed: list[tuple[Sequence[Key], tuple[Key, ...]]] = []
    for action, number, day in steps:
        path = seeds / f"a{number}.txt"
        if action == "add":
            write(seeds, path.name, f" date 2021-01-{day:02} Wire\nA{number}\n\nB.\n")
        elif path.exists():
            path.unlink()
        lib.apply([path.name])
        keys = sorted(entry.key for entry in lib.entries.values())
        for before in (None, *keys[-3:]):
            archived = lib.archived(before)
            expected = tuple(key for key in keys if before is None or key < before)
            assert tuple(archived) == expected
            assert tuple(archived[1:]) == expected[1:] and list(archived)[::-1] == [
                archived[-1 - i] for i in range(len(expected))
            ]
            handed.append((archived, expected))
        for archived, expected in handed:
            assert tuple(archived) == expected


@given(
    st.lists(
        st.tuples(st.sampled_from(["a.txt", "b.txt", "c.txt"]), st.none() | st.integers(1, 4)),
        max_size=12,
    )
)
@settings(max_examples=60, deadline=None)
def test_last_updated_is_the_newest_change_through_edits_and_deletions(
    steps: list[tuple[str, int | None]],
) -> None:
    """Kept as articles come, change date, are read again unchanged or go (an O(1) update
    for most, rather than a pass over every entry)."""
    with tempfile.TemporaryDirectory() as folder:
        seeds = Path(folder)
        lib = library(seeds, cache=False)
        lib.scan()
        for name, day in steps:
            if day is None:
                (seeds / name).unlink(missing_ok=True)
            else:
                path = seeds / name
                path.write_text(article(name, "Body.", day="2021-03-01"))
                when = datetime(2021, 3, day, tzinfo=UTC).timestamp()
                os.utime(path, (when, when))  # what `updated` is: the file's time, if later
            lib.apply({name})
            newest = max((e.updated for e in lib.entries.values()), default=None)
            assert lib.last_updated() == newest


@pytest.mark.parametrize("count", [1, 2100], ids=["one-by-one", "in-bulk"])
def test_a_file_emptied_while_read_is_read_again_though_it_looks_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """A writer's `open("w")` can empty a file between a read's `fstat` and its read, and
    write the same bytes back within the same tick of the file system's clock: same size,
    mtime and inode. What was read (nothing) must not be signed as that file, or no rescan
    (nor a restart, from the cache) would read it again."""
    for i in range(count - 1):
        write(tmp_path, f"many/{i}.txt", article(f"Number {i}"))
    target = write(tmp_path, "x.txt", article("Alpha"))
    st = target.stat()
    real = reading._read_to_end
    emptied = []

    def emptied_meanwhile(fd: int, size: int, limit: int) -> bytes:
        if os.fstat(fd).st_ino == st.st_ino and not emptied:
            emptied.append(True)
            target.write_bytes(b"")
        return real(fd, size, limit)

    monkeypatch.setattr(reading, "_read_to_end", emptied_meanwhile)
    monkeypatch.setattr(reading, "PARALLEL_FROM", 10**9)  # no workers: they run unpatched
    scanned = library(tmp_path)
    scanned.scan()
    assert scanned.rejected == {"x.txt": "empty file"}
    target.write_text(article("Alpha"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = target.stat()
    assert (now.st_size, now.st_mtime_ns, now.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    scanned.scan()
    assert "x.txt" in scanned.entries and not scanned.rejected
