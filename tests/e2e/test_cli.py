"""`feedd build` and `feedd check`, run as a user would, against the hostile corpus."""

from __future__ import annotations

import calendar
import gzip
import html
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import feedparser
import pytest
from helpers import REAL_SEED, Corpus, MiB, build_corpus, without_file_permission_bypass

SITE = "http://127.0.0.1:8080/"


def feedd(
    *args: str | Path, timeout: float = 60, prefix: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDD_")}
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "feedd", *map(str, args)],
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    decode = lambda b: b.decode("utf-8", "surrogateescape")  # noqa: E731
    return done.returncode, decode(done.stdout), decode(done.stderr)


def page_url(path: str) -> str:
    stem = path.removesuffix(".txt")
    return SITE + "articles/" + quote(stem + ".html")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Corpus, Path]:
    base = tmp_path_factory.mktemp("cli")
    hostile = build_corpus(base / "seeds")
    code, _, err = feedd("build", "--seeds", hostile.root, "--out", base / "out")
    assert code == 0, err
    return hostile, base / "out"


def entries_by_link(document: bytes) -> dict[str, feedparser.FeedParserDict]:
    parsed = feedparser.parse(document)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return {entry.link: entry for entry in parsed.entries}


@pytest.mark.parametrize("name", ["feed.atom", "feed.rss"])
def test_build_feeds_carry_every_article_field_by_field(
    built: tuple[Corpus, Path], name: str
) -> None:
    hostile, out = built
    entries = entries_by_link((out / name).read_bytes())
    assert set(entries) == {page_url(path) for path in hostile.good}
    for path, expected in hostile.good.items():
        entry = entries[page_url(path)]
        assert entry.id == "tag:feedd.invalid,2021:" + quote(path), path
        assert entry.title == expected.title, path
        assert entry.get("author") == (expected.author or "feedd"), path  # the default `author`
        terms = [tag.term for tag in entry.get("tags", [])]
        assert terms == ([expected.source] if expected.source else []), path
        content = entry.content[0].value if "content" in entry else entry.summary
        assert html.escape(expected.first_paragraph, quote=False) in content, path
        published = calendar.timegm(entry.published_parsed)
        if expected.published:
            assert published == expected.published.timestamp(), path
        else:
            assert published == int((hostile.root / path).stat().st_mtime), path


def test_build_json_feed_carries_every_article_field_by_field(
    built: tuple[Corpus, Path],
) -> None:
    hostile, out = built
    items = {item["url"]: item for item in json.loads((out / "feed.json").read_bytes())["items"]}
    assert set(items) == {page_url(path) for path in hostile.good}
    for path, expected in hostile.good.items():
        item = items[page_url(path)]
        assert item["id"] == "tag:feedd.invalid,2021:" + quote(path)
        assert item["title"] == expected.title
        author = {"name": expected.author or "feedd"}  # the byline's, else `author`'s
        assert (item["authors"], item["author"]) == ([author], author)
        assert item.get("tags", []) == ([expected.source] if expected.source else [])
        assert item["summary"].startswith(expected.first_paragraph)
        published = datetime.fromisoformat(item["date_published"])
        if expected.published:
            assert published == expected.published
        else:
            mtime = (hostile.root / path).stat().st_mtime
            assert published == datetime.fromtimestamp(mtime, UTC)


def test_build_writes_a_page_and_a_gzip_for_every_link(built: tuple[Corpus, Path]) -> None:
    hostile, out = built
    for path, expected in hostile.good.items():
        page = out / unquote(urlsplit(page_url(path)).path.lstrip("/"))
        body = page.read_bytes()
        assert expected.title in html.unescape(body.decode()), path
        assert gzip.decompress(Path(f"{page}.gz").read_bytes()) == body
    for name in ("index.html", "feed.atom", "feed.rss", "feed.json"):
        assert gzip.decompress((out / f"{name}.gz").read_bytes()) == (out / name).read_bytes()


def test_build_publishes_nothing_that_is_not_an_article(built: tuple[Corpus, Path]) -> None:
    hostile, out = built
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for secret in (b"root:x:0:0", b"Secret outside", b"Also secret", b"Skipped", b"\x89PNG"):
        assert secret not in everything
    pages = {str(p.relative_to(out / "articles")) for p in (out / "articles").rglob("*.html")}
    assert pages == {path.removesuffix(".txt") + ".html" for path in hostile.good}


def test_check_reports_every_rejection_and_warning(built: tuple[Corpus, Path]) -> None:
    hostile, _ = built
    code, out, _ = feedd("check", hostile.root)
    assert code == 1
    lines = out.splitlines()
    rejected = {
        line.split(": ", 1)[0]: line.split(": ", 1)[1]
        for line in lines[:-1]
        if ": warning: " not in line
    }
    assert set(rejected) == set(hostile.bad)
    for path, fragment in hostile.bad.items():
        assert fragment in rejected[path], path
    warned = {line.split(": warning: ")[0] for line in lines if ": warning: " in line}
    assert warned == {path for path, e in hostile.good.items() if e.warns}
    assert lines[-1] == (
        f"{len(hostile.good)} published, {len(hostile.bad)} rejected, "
        f"{len(warned)} warnings in {hostile.root}"
    )


def test_check_exits_0_when_nothing_is_rejected(tmp_path: Path) -> None:
    shutil.copy(REAL_SEED, tmp_path / "a.txt")
    (tmp_path / ".hidden.txt").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo.txt")
    code, out, _ = feedd("check", tmp_path)
    assert code == 0
    assert out == f"1 published, 0 rejected, 0 warnings in {tmp_path}\n"


def test_check_does_not_hang_on_a_fifo_or_a_huge_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.txt")  # opening it for reading would block forever
    with open(tmp_path / "huge.txt", "wb") as file:  # 30 MB of real (not sparse) bytes
        chunk = b"All work and no play makes Jack a dull boy.\n" * 24_000
        while file.tell() < 30 * MiB:
            file.write(chunk)
    code, out, _ = feedd("check", tmp_path, timeout=30)
    assert code == 1
    assert out.splitlines()[0].startswith("huge.txt: larger than max_article_bytes")
    assert "fifo" not in out


def test_check_of_a_missing_folder(tmp_path: Path) -> None:
    code, _, err = feedd("check", tmp_path / "nope")
    assert code == 2
    assert "not a folder" in err


def test_rebuild_leaves_unchanged_files_alone_and_removes_stale_ones(tmp_path: Path) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    build_corpus(seeds, special_files=False)
    assert feedd("build", "--seeds", seeds, "--out", out)[0] == 0
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    code, _, err = feedd("build", "--seeds", seeds, "--out", out)
    assert code == 0
    assert "0 files written" in err
    assert {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()
    } == files
    assert not list(out.rglob("*.tmp"))

    shutil.rmtree(seeds / "a")
    (seeds / "odd names" / "a #1? 100% sure.txt").rename(seeds / "renamed.txt")
    assert feedd("build", "--seeds", seeds, "--out", out)[0] == 0
    assert not (out / "articles" / "a").exists()
    assert not (out / "articles" / "odd names").exists()
    assert (out / "articles" / "renamed.html").exists()
    assert (out / "articles" / "renamed.html.gz").exists()
    links = set(entries_by_link((out / "feed.atom").read_bytes()))
    assert SITE + "articles/renamed.html" in links
    assert not any("sure" in link or "/a/b/" in link for link in links)


def test_check_reports_unreadable_files_and_folders(tmp_path: Path) -> None:
    prefix = without_file_permission_bypass()
    shutil.copy(REAL_SEED, tmp_path / "ok.txt")
    shutil.copy(REAL_SEED, tmp_path / "locked.txt")
    (tmp_path / "closed").mkdir()
    shutil.copy(REAL_SEED, tmp_path / "closed" / "inside.txt")
    (tmp_path / "locked.txt").chmod(0)
    (tmp_path / "closed").chmod(0)
    try:
        code, out, _ = feedd("check", tmp_path, prefix=prefix)
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert code == 1
    assert out.splitlines() == [
        "closed: cannot list folder: Permission denied",
        "locked.txt: cannot read: Permission denied",
        f"1 published, 2 rejected, 0 warnings in {tmp_path}",
    ]


def test_check_prints_one_line_per_file_whatever_its_name(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path)
    for name in (b"new\nline.txt", b"latin1-\xe9.txt"):
        with open(os.path.join(root, name), "wb") as file:
            file.write(b"")
    code, out, _ = feedd("check", tmp_path)
    assert code == 1
    assert out.splitlines()[:2] == [
        "latin1-\\xe9.txt: file name is not valid UTF-8",
        "new\\u000aline.txt: file name contains control characters",
    ]


def test_build_a_file_and_a_folder_whose_pages_collide(tmp_path: Path) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "out"
    (seeds / "b.html").mkdir(parents=True)
    shutil.copy(REAL_SEED, seeds / "b.txt")
    shutil.copy(REAL_SEED, seeds / "b.html" / "c.txt")
    code, _, err = feedd("build", "--seeds", seeds, "--out", out)
    assert code == 0, err
    assert len(entries_by_link((out / "feed.atom").read_bytes())) == 2


def test_an_unreadable_file_is_read_again_once_readable(tmp_path: Path) -> None:
    """A permission error is not remembered in the cache: fixing the mode is enough."""
    prefix = without_file_permission_bypass()
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REAL_SEED, seeds / "locked.txt")
    (seeds / "locked.txt").chmod(0o000)
    try:
        code, out, _ = feedd("check", seeds, prefix=prefix)
        assert code == 1 and "locked.txt: cannot read: Permission denied" in out
    finally:
        (seeds / "locked.txt").chmod(0o644)
    code, out, _ = feedd("check", seeds, prefix=prefix)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("1 published, 0 rejected")
