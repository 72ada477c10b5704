"""The persistent cache of parsed articles, and reading many files in worker processes."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedd.config import Settings
from feedd.library import reading
from feedd.library.cache import ArticleCache, Stored, cache_path
from feedd.library.library import Library
from feedd.library.reading import read_heads, read_many
from feedd.parse.article import Head


def library(seeds: Path, cache_file: Path, **settings: object) -> Library:
    configured = Settings(seeds=seeds, **settings)  # type: ignore[arg-type]
    return Library(configured, ArticleCache(cache_file, configured))


def scanned_and_saved(seeds: Path, cache_file: Path) -> Library:
    """A first run of feedd on `seeds`: scanned, its cache saved."""
    first = library(seeds, cache_file)
    first.scan()
    first.save()
    return first


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(article("Alpha"))
    (folder / "sub" / "b.txt").write_text(article("Bravo", day="2021-01-03"))
    (folder / "broken.txt").write_text("\n\n")
    return folder


def test_a_restart_takes_unchanged_files_from_the_cache(seeds: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite3"
    first = scanned_and_saved(seeds, cache_file)

    # Same size, mtime and inode, different date: only a cache hit keeps the old date.
    target = seeds / "a.txt"
    st = target.stat()
    with target.open("r+") as file:
        file.write(article("Alpha", day="2021-01-09"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (seeds / "c.txt").write_text(article("Charlie"))

    second = library(seeds, cache_file)
    second.scan()
    assert second.entries["a.txt"].published.day == 2, "read from the cache, not the file"
    assert second.entries["sub/b.txt"] == first.entries["sub/b.txt"]
    assert second.rejected == first.rejected == {"broken.txt": "only whitespace"}
    assert "c.txt" in second.entries, "a new file is read"
    # Reading the newest whole for the feeds finds the real date and puts Alpha first.
    assert [a.title for a in second.newest()] == ["Alpha", "Bravo", "Charlie"]
    assert second.entries["a.txt"].published.day == 9


def test_a_warm_start_of_many_files_agrees_with_a_cold_one(tmp_path: Path) -> None:
    """A warm start restores entries straight from the cache's rows; it must end where a cold
    scan does: entries, rejections, warnings, page clashes, sources."""
    seeds = tmp_path / "seeds"
    for i in range(400):
        folder = seeds / f"d{i % 7}" / f"e{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        day, source = f"2021-01-{1 + i % 28:02}", ("Wire", "Desk", "Agency")[i % 3]
        (folder / f"a{i}.txt").write_text(article(f"Article {i}", day=day, source=source))
    (seeds / "broken.txt").write_text("\n\n")
    (seeds / "warned.txt").write_bytes(b" date 2021-01-05 Wire\nCaf\xe9\n\nBody.\n")
    (seeds / "clash").write_text(article("Clash"))
    (seeds / "clash.txt").write_text(article("Clash too"))
    include = ("*.txt", "clash")
    cold = library(seeds, tmp_path / "cache.sqlite3", include=include)
    cold_changes = cold.scan()
    cold.save()
    warm = library(seeds, tmp_path / "cache.sqlite3", include=include)
    warm_changes = warm.scan()
    assert warm.entries == cold.entries
    assert warm.pages == cold.pages
    assert warm.rejected == cold.rejected
    assert "broken.txt" in warm.rejected and len(warm.rejected) == 2  # one of the clash
    assert warm.warnings == cold.warnings and "warned.txt" in warm.warnings
    assert warm_changes == cold_changes
    assert warm.take_touched_sources() == cold.take_touched_sources() == {"Wire", "Desk", "Agency"}
    assert [a.title for a in warm.newest()] == [a.title for a in cold.newest()]
    assert list(warm.archived(None)) == list(cold.archived(None))
    for source in ("Wire", "Desk", "Agency"):
        assert warm.newest_of(source) == cold.newest_of(source)
    # And it goes on like a cold one: folders it restored are indexed for later events.
    (seeds / "d3" / "e1" / "a10.txt").unlink()
    changes = warm.apply(["d3"])
    assert "d3/e1/a10.txt" in changes.changed and "d3/e1/a10.txt" not in warm.entries


def test_a_cache_whose_articles_share_a_page_publishes_one_and_rejects_the_other(
    tmp_path: Path,
) -> None:
    """Rows that no scan writes (a cache edited, or left by another version): two articles
    with one page. One is published and the other rejected, as a scan would find them."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "x").write_text(article("Ex"))
    (seeds / "x.txt").write_text(article("Ex too"))
    cache_file = tmp_path / "cache.sqlite3"
    settings = Settings(seeds=seeds, include=("*.txt", "x"))
    row = Stored(1, 1609459200.0, 1609459200.0, "Wire", None, None)
    ArticleCache(cache_file, settings).save({"x": row, "x.txt": row._replace(version=2)})
    warm = Library(settings, ArticleCache(cache_file, settings))
    changes = warm.scan(checked_later=True)
    assert len(warm.entries) == len(warm.pages) == 1 and len(warm.rejected) == 1
    (kept,) = warm.entries
    assert warm.pages["/articles/x.html"].path == kept
    assert changes.changed == {kept}


def test_changed_and_deleted_files_are_read_again_and_forgotten(
    seeds: Path, tmp_path: Path
) -> None:
    cache_file = tmp_path / "cache.sqlite3"
    scanned_and_saved(seeds, cache_file)
    (seeds / "a.txt").write_text(article("Alpha, longer now", day="2021-01-09"))
    (seeds / "sub" / "b.txt").unlink()
    second = library(seeds, cache_file)
    second.scan()
    second.save()
    assert second.entries["a.txt"].published.day == 9
    assert set(ArticleCache(cache_file, second.settings).load().stored()) == {"a.txt", "broken.txt"}


@pytest.mark.parametrize("cores", [1, 2], ids=["walk-here", "walk-in-a-worker"])
def test_what_changed_while_away_ends_as_a_cold_scan_of_the_folder_would(
    seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """A warm start publishes the cache, then checks it against the folder (walked by another
    process, or here on one core): every change made while feedd was stopped must come out as
    a cold scan sees it, and only rejections that still stand are reported."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr("feedd.library.library.PARALLEL_FROM", 1)  # another process even for a few
    cache_file = tmp_path / "cache.sqlite3"
    (seeds / "gone-bad.txt").write_text("\n")
    (seeds / "still-bad.txt").write_text("\n")
    first = scanned_and_saved(seeds, cache_file)
    assert set(first.rejected) == {"broken.txt", "gone-bad.txt", "still-bad.txt"}
    (seeds / "broken.txt").write_text(article("Fixed"))
    (seeds / "gone-bad.txt").unlink()
    (seeds / "new-bad.txt").write_text("\n")
    (seeds / "a.txt").write_text(article("Alpha, edited", day="2021-01-07"))
    (seeds / "sub" / "b.txt").unlink()
    (seeds / "sub" / "c.txt").write_text(article("Charlie"))

    warm = library(seeds, cache_file)
    changes = warm.scan()
    cold = library(seeds, tmp_path / "other.sqlite3")
    cold_changes = cold.scan()
    assert warm.entries == cold.entries
    still_rejected = {"new-bad.txt": "only whitespace", "still-bad.txt": "only whitespace"}
    assert warm.rejected == cold.rejected == still_rejected
    assert changes.new_rejections == cold_changes.new_rejections
    assert set(warm.entries) <= changes.changed
    assert {"sub/b.txt", "gone-bad.txt"} <= changes.changed | changes.cleared
    warm.save()
    assert set(ArticleCache(cache_file, warm.settings).load().stored()) == set(warm.entries) | {
        "new-bad.txt",
        "still-bad.txt",
    }


def test_a_first_scan_checked_later_publishes_the_cache_then_the_next_scan_checks_it(
    seeds: Path, tmp_path: Path
) -> None:
    """The daemon's first site comes from the cache unwalked; its watcher's rescan follows and
    must end where a cold scan does, reporting the rejections that still stand once."""
    cache_file = tmp_path / "cache.sqlite3"
    (seeds / "gone-bad.txt").write_text("\n")
    (seeds / "still-bad.txt").write_text("\n")
    first = scanned_and_saved(seeds, cache_file)
    (seeds / "broken.txt").write_text(article("Fixed"))
    (seeds / "gone-bad.txt").unlink()
    (seeds / "new-bad.txt").write_text("\n")
    (seeds / "a.txt").write_text(article("Alpha, edited", day="2021-01-07"))
    (seeds / "sub" / "b.txt").unlink()

    warm = library(seeds, cache_file)
    restored = warm.scan(checked_later=True)
    assert warm.unchecked
    assert warm.entries == first.entries and warm.rejected == first.rejected
    assert restored.changed == set(first.entries) and restored.new_rejections == ()

    checked = warm.scan()
    cold = library(seeds, tmp_path / "other.sqlite3")
    cold_changes = cold.scan()
    assert not warm.unchecked
    assert warm.entries == cold.entries and warm.rejected == cold.rejected
    assert (
        checked.new_rejections
        == cold_changes.new_rejections
        == (
            ("new-bad.txt", "only whitespace"),
            ("still-bad.txt", "only whitespace"),
        )
    )
    assert checked.changed == {"a.txt", "sub/b.txt", "broken.txt"}
    assert warm.scan().new_rejections == (), "reported once"
    # Folders it restored are indexed for later events too.
    (seeds / "sub" / "c.txt").write_text(article("Charlie"))
    assert warm.apply(["sub/c.txt"]).changed == {"sub/c.txt"}
    (seeds / "sub").rename(tmp_path / "sub-moved-away")
    assert warm.apply(["sub"]).changed == {"sub/c.txt"} and "sub/c.txt" not in warm.entries


def test_the_check_ends_unchecked_even_when_the_first_site_found_every_article_gone(
    seeds: Path, tmp_path: Path
) -> None:
    """Every cached article deleted while stopped: the first site's re-read of the newest
    empties the library, and the check, finding nothing known, must still end the doubt."""
    cache_file = tmp_path / "cache.sqlite3"
    (seeds / "broken.txt").unlink()  # a rejection would stay known until the check
    scanned_and_saved(seeds, cache_file)
    for name in ("a.txt", "sub/b.txt"):
        (seeds / name).unlink()
    warm = library(seeds, cache_file)
    warm.scan(checked_later=True)
    assert warm.newest() == [] and not warm.entries  # as the first site's render finds them
    warm.scan()
    assert not warm.unchecked and not warm.entries and not warm.rejected


def test_a_held_rejection_an_event_reported_again_is_not_reported_by_the_check(
    seeds: Path, tmp_path: Path
) -> None:
    cache_file = tmp_path / "cache.sqlite3"
    scanned_and_saved(seeds, cache_file)
    warm = library(seeds, cache_file)
    warm.scan(checked_later=True)
    (seeds / "broken.txt").write_text(article("Fixed"))
    assert warm.apply(["broken.txt"]).cleared == {"broken.txt"}
    (seeds / "broken.txt").write_text("\n\n")
    assert warm.apply(["broken.txt"]).new_rejections == (("broken.txt", "only whitespace"),)
    assert warm.scan().new_rejections == (), "reported once, by the event"


_NAMES = ("a.txt", "b.txt", "sub/c.txt", "sub/deep/d.txt", "e.txt")
_CONTENTS = st.one_of(
    st.builds(
        article,
        st.sampled_from(["One", "Two", "Three"]),
        day=st.sampled_from(["2021-01-02", "2021-03-04", "2022-12-31"]),
        source=st.sampled_from(["Wire", "Desk"]),
    ),
    st.just("\n\n"),  # rejected
)
_FOLDERS = st.dictionaries(st.sampled_from(_NAMES), _CONTENTS, max_size=len(_NAMES))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=_FOLDERS, after=_FOLDERS, checked_later=st.booleans())
def test_a_restart_after_any_changes_ends_as_a_cold_scan_would(
    tmp_path_factory: pytest.TempPathFactory,
    before: dict[str, str],
    after: dict[str, str],
    checked_later: bool,
) -> None:
    """Whatever the folder held when feedd stopped and holds when it starts again: the warm
    start, its first site's re-read of the newest, and the check end where a cold scan does,
    and every rejection that stands is reported once."""
    root = tmp_path_factory.mktemp("restart")
    seeds, cache_file = root / "seeds", root / "cache.sqlite3"

    def write(files: dict[str, str]) -> None:
        for name in _NAMES:
            path = seeds / name
            if name in files:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(files[name])
            elif path.exists():
                path.unlink()

    write(before)
    seeds.mkdir(exist_ok=True)
    first = library(seeds, cache_file, max_entries=2)
    first.scan()
    first.save()
    write(after)
    warm = library(seeds, cache_file, max_entries=2)
    reported = list(warm.scan(checked_later=checked_later).new_rejections)
    warm.newest()  # as the first site's render does, and its update reports what it found
    reported += warm.take_unreported().new_rejections
    reported += warm.scan().new_rejections
    cold = library(seeds, root / "cold.sqlite3", max_entries=2)
    cold_changes = cold.scan()
    assert warm.entries == cold.entries and warm.rejected == cold.rejected
    assert list(warm.archived(None)) == list(cold.archived(None))
    for source in ("Wire", "Desk"):
        assert warm.newest_of(source) == cold.newest_of(source)
    assert sorted(reported) == sorted(cold_changes.new_rejections)
    assert [a.title for a in warm.newest()] == [a.title for a in cold.newest()]


def test_a_first_scan_checked_later_without_a_cache_reads_the_folder(
    seeds: Path, tmp_path: Path
) -> None:
    """An empty or stale cache has nothing to publish: the folder is read at once, never an
    empty site served until the check."""
    cache_file = tmp_path / "cache.sqlite3"
    stale = library(seeds, cache_file, timezone="Asia/Tokyo")  # dates read another way
    stale.scan()
    stale.save()
    fresh = library(seeds, cache_file)
    fresh.scan(checked_later=True)
    assert not fresh.unchecked and set(fresh.entries) == {"a.txt", "sub/b.txt"}


def test_a_setting_that_changes_parsing_discards_the_cache(seeds: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.sqlite3"
    scanned_and_saved(seeds, cache_file)
    karachi = library(seeds, cache_file, timezone="Asia/Karachi")
    assert not ArticleCache(cache_file, karachi.settings).load()
    karachi.scan()
    assert karachi.entries["a.txt"].published.utcoffset().total_seconds() == 5 * 3600  # type: ignore[union-attr]


def test_a_corrupt_cache_is_rebuilt_never_fatal(
    seeds: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file = tmp_path / "cache.sqlite3"
    cache_file.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        broken = library(seeds, cache_file)
        broken.scan()
        broken.save()
    assert set(broken.entries) == {"a.txt", "sub/b.txt"}
    assert "rebuilding it" in caplog.text
    assert set(ArticleCache(cache_file, broken.settings).load().stored()) == {
        "a.txt",
        "sub/b.txt",
        "broken.txt",
    }


def test_an_unwritable_cache_is_done_without(seeds: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    unusable = library(seeds, blocker / "cache.sqlite3")  # its folder is a file
    unusable.scan()
    unusable.save()
    assert set(unusable.entries) == {"a.txt", "sub/b.txt"}


def test_names_that_are_not_utf8_round_trip(seeds: Path, tmp_path: Path) -> None:
    with open(os.path.join(os.fsencode(seeds), b"caf\xe9.txt"), "wb") as file:
        file.write(article("Latin-1 name").encode())
    cache_file = tmp_path / "cache.sqlite3"
    first = scanned_and_saved(seeds, cache_file)
    second = library(seeds, cache_file)
    second.scan()
    assert second.rejected == first.rejected


def test_the_cache_lives_in_the_state_directory(tmp_path: Path) -> None:
    settings = Settings(seeds=tmp_path)
    assert cache_path(settings, {"STATE_DIRECTORY": "/var/lib/feedd"}).parent == Path(
        "/var/lib/feedd"
    )  # type: ignore[union-attr]
    assert cache_path(settings, {"XDG_CACHE_HOME": "/c"}).parent == Path("/c/feedd")  # type: ignore[union-attr]
    explicit = Settings(seeds=tmp_path, state_dir="/s")
    assert cache_path(explicit, {"STATE_DIRECTORY": "/x"}).parent == Path("/s")  # type: ignore[union-attr]
    assert cache_path(Settings(seeds=tmp_path, cache=False), {}) is None
    other = cache_path(Settings(seeds=tmp_path / "other"), {"XDG_CACHE_HOME": "/c"})
    assert other != cache_path(settings, {"XDG_CACHE_HOME": "/c"}), "one file per folder"


def _outcomes(root: str, paths: list[str], settings: Settings) -> dict[str, object]:
    """What read_many says of each path, with a worker's plain values and an article read here
    alike as a head, and the signature and digest of what was read."""
    outcomes: dict[str, object] = {}
    for path, signature, digest, result in read_many(root, paths, settings):
        if isinstance(result, tuple):
            result = Stored((0, 0, 0), *result, None).head()
        elif result is not None and not isinstance(result, str):
            result = Head(result.published, result.updated, result.source, result.warnings)
        outcomes[path] = (signature, digest, result)
    return outcomes


def test_many_files_are_read_in_worker_processes_with_the_same_outcome(tmp_path: Path) -> None:
    for i in range(2100):
        (tmp_path / f"{i}.txt").write_text(article(f"Number {i}") if i % 7 else "")
    settings = Settings(seeds=tmp_path)
    paths = sorted(p.name for p in tmp_path.iterdir())
    parallel = _outcomes(str(tmp_path), paths, settings)
    assert len(parallel) == 2100
    for path in ("0.txt", "1.txt", "700.txt", "2099.txt"):
        assert parallel[path] == _outcomes(str(tmp_path), [path], settings)[path]
        st = (tmp_path / path).stat()
        assert parallel[path][0] == (st.st_size, st.st_mtime_ns, st.st_ino)  # type: ignore[index]
    assert sum(isinstance(result, str) for _, _, result in parallel.values()) == 300  # type: ignore[misc]


def test_workers_start_while_the_paths_come_and_killed_ones_leave_the_rest_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The paths of a first scan come from a walk under way: workers read the first chunks
    while it goes on. Workers killed meanwhile break the pool; what they did not send back
    is read here, and every head still comes once, in order, as reading here gives it."""
    for i in range(3000):
        (tmp_path / f"{i:04}.txt").write_text(article(f"Number {i}") if i % 7 else "")
    paths = sorted(p.name for p in tmp_path.iterdir())
    settings = Settings(seeds=tmp_path)
    pools = []
    real_pool = reading.worker_pool

    @contextlib.contextmanager
    def kept(workers: int) -> Iterator[object]:
        with real_pool(workers) as pool:
            pools.append(pool)
            yield pool

    monkeypatch.setattr(reading, "worker_pool", kept)

    def walking() -> Iterator[str]:
        for i, path in enumerate(paths):
            if i == 2600:  # five chunks sent: their workers are running
                assert pools and pools[0]._processes, "workers started before the walk ended"
                for process in list(pools[0]._processes.values()):
                    process.kill()
            yield path

    with caplog.at_level(logging.WARNING, logger="feedd.library.reading"):
        survived = list(read_heads(str(tmp_path), walking(), settings))
    assert "worker processes failed" in caplog.text
    monkeypatch.setattr(reading, "PARALLEL_FROM", 10**9)
    here = list(read_heads(str(tmp_path), iter(paths), settings))
    assert survived == here
    assert [sorted([*heads.paths, *(other[0] for other in heads.others)]) for heads in here] == [
        paths[i : i + 500] for i in range(0, 3000, 500)
    ]
    assert sum(len(heads.others) for heads in here) == 429  # the empty files


def test_worker_processes_treat_links_and_special_files_as_a_single_read_does(
    tmp_path: Path,
) -> None:
    """Workers open files relative to their folder, each folder checked once: a link to a file
    or folder inside is read through, a link out of the folder and a FIFO are no candidates,
    whichever way the file is read."""
    seeds, outside = tmp_path / "seeds", tmp_path / "outside"
    (seeds / "many").mkdir(parents=True)
    outside.mkdir()
    for i in range(2100):
        (seeds / "many" / f"{i}.txt").write_text(article(f"Number {i}"))
    (outside / "secret.txt").write_text(article("Secret"))
    (seeds / "many" / "in.txt").symlink_to(seeds / "many" / "7.txt")
    (seeds / "many" / "out.txt").symlink_to(outside / "secret.txt")
    (seeds / "linked").symlink_to(seeds / "many")
    (seeds / "away").symlink_to(outside)
    os.mkfifo(seeds / "many" / "fifo.txt")
    special = ["many/in.txt", "many/out.txt", "linked/8.txt", "away/secret.txt", "many/fifo.txt"]
    settings = Settings(seeds=seeds)
    root = os.path.realpath(seeds)
    parallel = _outcomes(root, [f"many/{i}.txt" for i in range(2100)] + special, settings)
    for path in special:
        assert parallel[path] == _outcomes(root, [path], settings)[path], path
    for path in ("many/out.txt", "away/secret.txt", "many/fifo.txt"):
        assert parallel[path] == (None, 0, None), path
    for path in ("many/in.txt", "linked/8.txt"):
        assert isinstance(parallel[path][2], Head), path  # type: ignore[index]


@pytest.mark.parametrize("count", [3, 2100], ids=["read-here", "read-by-workers"])
def test_a_first_scan_signs_files_as_a_stat_would(tmp_path: Path, count: int) -> None:
    """With nothing cached, the first scan does not `stat` each file: reading it signs it. A
    rescan must then find every file unchanged, or it would read the whole folder again."""
    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    for i in range(count):
        (seeds / "sub" / f"{i}.txt").write_text(article(f"Number {i}"))
    first = library(seeds, tmp_path / "cache.sqlite3")
    assert len(first.scan().changed) == count
    # Same size, mtime and inode, another date: only a rescan that reads the file sees it.
    target = seeds / "sub" / "1.txt"
    st = target.stat()
    target.write_text(article("Number 1", day="2021-01-09"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not first.scan()
    assert first.entries["sub/1.txt"].published.day == 2


@pytest.mark.parametrize("parallel_from", [1, 10**9], ids=["read-by-workers", "read-here"])
def test_a_first_scan_of_many_files_ends_as_reading_them_one_by_one_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel_from: int
) -> None:
    """A first scan of many files takes their heads column by column; of a few, it takes
    whole articles one by one. Both must give the same library: entries, pages, order,
    rejections, warnings and signatures (a file signed wrongly is read again at every rescan,
    or never)."""
    monkeypatch.setattr("feedd.library.reading.PARALLEL_FROM", parallel_from)
    seeds, outside = tmp_path / "seeds", tmp_path / "outside"
    outside.mkdir()
    for i in range(300):
        folder = seeds / f"d{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        day, source = f"2021-0{1 + i % 3}-{1 + i % 28:02}", ("Wire", "Desk", None)[i % 3]
        (folder / f"a{i}.txt").write_text(article(f"Article {i}", day=day, source=source or ""))
    (seeds / "broken.txt").write_text("\n\n")
    (seeds / "warned.txt").write_bytes(b" date 2021-01-05 Wire\nCaf\xe9\n\nBody.\n")
    (seeds / "large.txt").write_text(article("Large") + "x" * 2000)
    (seeds / "clash").write_text(article("Clash"))
    (seeds / "clash.txt").write_text(article("Clash too"))
    (seeds / "in.txt").symlink_to(seeds / "d1" / "a1.txt")
    (outside / "secret.txt").write_text(article("Secret"))
    (seeds / "out.txt").symlink_to(outside / "secret.txt")
    os.mkfifo(seeds / "fifo.txt")
    (seeds / os.fsdecode(b"caf\xe9.txt")).write_text(article("Latin-1 name"))
    options = {"include": ("*.txt", "clash"), "max_article_bytes": 1000}
    first = library(seeds, tmp_path / "first.sqlite3", **options)
    first_changes = first.scan()
    one_by_one = library(seeds, tmp_path / "other.sqlite3", **options)
    monkeypatch.setattr("feedd.library.library._BULK", 10**9)  # so few: read one by one, whole
    changes = one_by_one.scan()
    assert first.entries == one_by_one.entries and len(first.entries) == 303
    assert first.pages == one_by_one.pages
    assert first._order.keys == one_by_one._order.keys
    assert first._order.by_source == one_by_one._order.by_source
    assert first.rejected == one_by_one.rejected
    assert len(first.rejected) == 4 and {"clash", "clash.txt"} & set(first.rejected)  # one
    assert {"broken.txt", "large.txt", os.fsdecode(b"caf\xe9.txt")} <= set(first.rejected)
    assert first.warnings == one_by_one.warnings and "warned.txt" in first.warnings
    assert first._signatures == one_by_one._signatures
    assert first_changes == changes
    first.save()
    assert ArticleCache(tmp_path / "first.sqlite3", first.settings).load().stored() == {
        path: first._stored(path) for path in [*first.entries, *first.rejected]
    }
    assert not first.scan(), "a rescan finds every file as the first scan signed it"


def test_a_modification_time_past_2262_is_cached_without_breaking_the_cache(
    seeds: Path, tmp_path: Path
) -> None:
    """st_mtime_ns past 2262 does not fit SQLite's 64-bit integers (found by fuzzing): it is
    stored as a number SQLite can hold, and every other file is still cached."""
    late = seeds / "late.txt"
    late.write_text(article("Late"))
    os.utime(late, ns=(10**19, 10**19))  # 2286; ext4 keeps times to 2446
    if late.stat().st_mtime_ns != 10**19:
        pytest.skip("this file system cannot hold the time")
    cache_file = tmp_path / "cache.sqlite3"
    first = scanned_and_saved(seeds, cache_file)
    rows = ArticleCache(cache_file, first.settings).load().stored()
    assert {"a.txt", "sub/b.txt", "late.txt"} <= set(rows)
    second = library(seeds, cache_file)
    second.scan()
    assert second.entries == first.entries


def test_a_save_that_failed_is_followed_by_a_whole_one(
    seeds: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A save that failed (a full disk, a state folder missing) leaves the cache behind: the
    next save writes every row, and only then is the cache trusted as complete."""
    state = tmp_path / "state"
    state.write_text("a file where the state folder goes")
    cache_file = state / "cache.sqlite3"
    running = library(seeds, cache_file)
    running.scan()
    running.save()
    assert "cannot write cache" in caplog.text
    state.unlink()
    state.mkdir()
    (seeds / "c.txt").write_text(article("Charlie"))
    running.apply(["c.txt"])
    running.save()
    cache = ArticleCache(cache_file, Settings(seeds=seeds))
    assert len(cache.load()) == 4 and cache.complete


def test_rows_saved_one_by_one_into_a_cache_made_anew_are_not_trusted(
    seeds: Path, tmp_path: Path
) -> None:
    """The cache deleted under a running feedd: its next save writes every row."""
    cache_file = tmp_path / "cache.sqlite3"
    running = scanned_and_saved(seeds, cache_file)
    cache_file.unlink()
    (seeds / "c.txt").write_text(article("Charlie"))
    running.apply(["c.txt"])
    running.save()
    cache = ArticleCache(cache_file, Settings(seeds=seeds))
    assert len(cache.load()) == 4 and cache.complete
