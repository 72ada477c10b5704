"""Writing a `Site` to a folder: complete files by atomic rename, `.gz` beside each, stale files
removed, unchanged files left alone, and nothing else in the folder ever touched."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from feedd import urls
from feedd.publish.folder import MANIFEST, file_name, write_site
from feedd.render.site import ATOM, HTML, JSON_FEED, RSS, Site, make_resource


def make_site(pages: dict[str, str], feed: str = "feed") -> Site:
    """A site with the four fixed documents and one HTML page per `pages` entry."""
    resources = {
        urls.INDEX: make_resource(b"<html>index " + feed.encode() + b"</html>", HTML, None),
        urls.ATOM: make_resource(f"<feed>{feed}</feed>".encode(), ATOM, None),
        urls.RSS: make_resource(f"<rss>{feed}</rss>".encode(), RSS, None),
        urls.JSON: make_resource(json.dumps({"f": feed}).encode(), JSON_FEED, None),
    }
    for path, text in pages.items():
        resources[path] = make_resource(text.encode(), HTML, None)
    return Site.create(resources, articles=len(pages), rejected=0, updated=None)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()} - {
        MANIFEST
    }


def fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    return {
        name: ((root / name).stat().st_ino, (root / name).stat().st_mtime_ns)
        for name in files_under(root)
    }


PAGES = {
    "/articles/a.html": "A",
    "/articles/sub/b.html": "B",
    "/articles/名前 #1?.html": "Named",
}


def test_every_document_and_its_gzip(tmp_path: Path) -> None:
    site = make_site(PAGES)
    stats = write_site(site, tmp_path / "out")
    out = tmp_path / "out"
    expected = {file_name(p) + s for p in site.resources for s in ("", ".gz")}
    assert files_under(out) == expected
    assert stats.written == len(expected)
    for path, resource in site.resources.items():
        name = file_name(path)
        assert (out / name).read_bytes() == resource.body
        assert gzip.decompress((out / (name + ".gz")).read_bytes()) == resource.body
        assert (out / name).stat().st_mode & 0o777 == 0o644
    assert not [p for p in out.rglob("*.tmp")]


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site(PAGES), out)
    before = fingerprint(out)
    manifest = (out / MANIFEST).stat().st_mtime_ns
    stats = write_site(make_site(PAGES), out)
    assert stats.written == 0
    assert stats.removed == 0
    assert fingerprint(out) == before
    assert (out / MANIFEST).stat().st_mtime_ns == manifest


def test_a_changed_file_is_replaced_not_rewritten_in_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site(PAGES, feed="old"), out)
    before = fingerprint(out)
    # A reader that opened the feed before the rebuild still reads the whole old document.
    with open(out / "feed.atom", "rb") as reader:
        stats = write_site(make_site(PAGES, feed="new"), out)
        assert reader.read() == b"<feed>old</feed>"
    assert (out / "feed.atom").read_bytes() == b"<feed>new</feed>"
    assert gzip.decompress((out / "feed.atom.gz").read_bytes()) == b"<feed>new</feed>"
    after = fingerprint(out)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {
        f + s for f in ("feed.atom", "feed.rss", "feed.json", "index.html") for s in ("", ".gz")
    }
    assert stats.written == len(changed)


def test_stale_files_and_empty_folders_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site(PAGES), out)
    stats = write_site(make_site({"/articles/a.html": "A"}), out)
    assert stats.removed == 4
    assert files_under(out) == {
        file_name(p) + s
        for p in make_site({"/articles/a.html": "A"}).resources
        for s in ("", ".gz")
    }
    assert not (out / "articles" / "sub").exists()


def test_files_feedd_did_not_write_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = {"robots.txt": "x", "articles/keep.html": "x", "sep": "x", "arator.html": "x"}
    for name, text in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    # Names a line-per-name manifest would split: once this page is stale, the old format
    # removed `arator.html` (not feedd's) and kept the stale page.
    odd = {"/articles/sep\u2028arator.html": "odd", "/articles/new\nline.html": "odd"}
    write_site(make_site({**PAGES, **odd}), out)
    write_site(make_site({}), out)
    for name, text in mine.items():
        assert (out / name).read_text() == text, name
    assert files_under(out) == set(mine) | {
        f + s for f in ("feed.atom", "feed.rss", "feed.json", "index.html") for s in ("", ".gz")
    }


def test_a_manifest_in_the_first_format_is_still_honoured(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.html").write_text("stale")
    (out / "other.html").write_text("not ours")
    (out / MANIFEST).write_text("old.html\n../outside.html\n/etc/passwd\n")
    (tmp_path / "outside.html").write_text("outside")
    write_site(make_site({}), out)
    assert not (out / "old.html").exists()
    assert (out / "other.html").exists()
    assert (tmp_path / "outside.html").exists()


def test_a_corrupt_manifest_removes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "page.html").write_text("x")
    (out / MANIFEST).write_bytes(b'{"not": "a list"}')
    write_site(make_site({}), out)
    assert (out / "page.html").exists()


def test_stale_symlink_is_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site(PAGES), out)
    target = tmp_path / "precious.html"
    target.write_text("precious")
    (out / "articles" / "a.html").unlink()
    (out / "articles" / "a.html").symlink_to(target)
    write_site(make_site({}), out)
    assert target.read_text() == "precious"


def test_a_failed_write_leaves_the_feeds_as_they_were(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site({"/articles/a.html": "A"}, feed="old"), out)
    # Something in the way of a new page: the write fails before it reaches the feeds, so
    # they never link to a page that is not there.
    (out / "articles" / "new.html").mkdir()
    with pytest.raises(OSError):
        write_site(make_site({"/articles/a.html": "A", "/articles/new.html": "N"}, feed="new"), out)
    assert (out / "feed.atom").read_bytes() == b"<feed>old</feed>"
    assert not [p for p in out.rglob("*.tmp")]
    # Once it is out of the way, the next write completes, and a later one removes the page.
    (out / "articles" / "new.html").rmdir()
    write_site(make_site({"/articles/a.html": "A", "/articles/new.html": "N"}, feed="new"), out)
    assert (out / "feed.atom").read_bytes() == b"<feed>new</feed>"
    write_site(make_site({"/articles/a.html": "A"}, feed="new"), out)
    assert not (out / "articles" / "new.html").exists()


def test_files_of_a_write_that_failed_half_way_are_removed_later(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_site(make_site({}), out)
    (out / "articles" / "z.html").mkdir(parents=True)  # fails after a.html is written
    with pytest.raises(OSError):
        write_site(make_site({"/articles/a.html": "A", "/articles/z.html": "Z"}), out)
    assert (out / "articles" / "a.html").exists()
    (out / "articles" / "z.html").rmdir()
    write_site(make_site({}), out)
    assert not (out / "articles").exists()


def test_refuses_to_write_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="outside"):
        write_site(make_site({"/articles/../../escape.html": "x"}), out)
    assert not (tmp_path / "escape.html").exists()


def test_output_folder_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    write_site(make_site(PAGES), tmp_path / "link")
    write_site(make_site({}), tmp_path / "link")
    assert not (real / "articles").exists()
    assert (real / "feed.atom").exists()
    assert os.path.islink(tmp_path / "link")
