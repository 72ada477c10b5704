"""Segmented gzip: always a valid stream of the body, the same bytes however much was reused,
and close to one pass in size."""

from __future__ import annotations

import dataclasses
import gzip
import random
import zlib
from pathlib import Path

from corpus import REAL_SEED, article_text
from hypothesis import given, settings
from hypothesis import strategies as st

from feedd.compression import SegmentedGzip
from feedd.config import Settings
from feedd.library import Library
from feedd.render import Renderer
from feedd.site import Site

WORDS = REAL_SEED.read_text().split()


def shuffled_text(seed: int, words: int = 300) -> str:
    """Prose with the original article's words: entries that differ, as real ones do."""
    chosen = random.Random(seed).choices(WORDS, k=words)  # noqa: S311 (reproducible text)
    return "\n\n".join(" ".join(chosen[i : i + 60]) for i in range(0, words, 60))


def strict_gunzip(data: bytes) -> bytes:
    """Decompress exactly one gzip member, checking its CRC and length, with nothing after it."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    body = decompressor.decompress(data) + decompressor.flush()
    assert decompressor.eof
    assert decompressor.unused_data == b""
    return body


# A document: entries (drawn from few symbols, so that they repeat and compress), with glue
# between them; `parts` names some of the entries, or anything at all.
entry = st.text("ab<>", max_size=3000).map(str.encode) | st.binary(max_size=200)
glue = st.text(",\n", max_size=3).map(str.encode)
documents = st.lists(st.tuples(entry, glue), max_size=12)


@given(versions=st.lists(documents, min_size=1, max_size=4), stray=st.lists(st.binary()))
@settings(max_examples=300)
def test_any_cut_gives_the_body_and_reuse_changes_no_byte(
    versions: list[list[tuple[bytes, bytes]]], stray: list[bytes]
) -> None:
    reused = SegmentedGzip(6)
    for version in versions:
        body = b"".join(part + glue for part, glue in version)
        parts = [part for part, _ in version] + stray  # stray parts: cut no more
        compressed = reused.compress("/doc", body, parts)
        assert strict_gunzip(compressed) == body
        assert gzip.decompress(compressed) == body
        # What was kept from the version before is what a fresh start makes.
        assert compressed == SegmentedGzip(6).compress("/doc", body, parts)


def test_segments_longer_than_the_window() -> None:
    """Segments far longer than the window, and windows from several segments."""
    parts = [shuffled_text(seed, 3000).encode() for seed in range(4)] + [b"x" * 20_000]
    body = b"<head>" + b"".join(parts) + b"</tail>"
    assert strict_gunzip(SegmentedGzip(6).compress("/doc", body, parts)) == body


def test_a_renderers_gzip_after_updates_is_a_fresh_renderers(tmp_path: Path) -> None:
    """New, edited and deleted articles: every document's gzip is what rendering the same
    library from scratch gives, and within 15% of one gzip pass over real-sized entries."""
    configured = dataclasses.replace(Settings(), seeds=str(tmp_path), max_entries=20, cache=False)

    def write(name: str, seed: int, day: int) -> None:
        text = article_text(f"Article {seed}", shuffled_text(seed), f"date 2021-03-{day:02} Wire")
        (tmp_path / name).write_text(text)

    for i in range(30):
        write(f"a{i}.txt", i, 1 + i % 28)

    def scanned() -> Library:
        library = Library(configured)
        library.scan()
        return library

    library = scanned()
    renderer = Renderer(configured)
    renderer.site(library)
    steps = [("new.txt", 100, 28), ("a29.txt", 101, 27), ("new2.txt", 102, 28)]
    for name, seed, day in steps:
        write(name, seed, day)
        library.apply({name})
        site = renderer.site(library)
        fresh = Renderer(configured).site(scanned())
        for path, resource in site.resources.items():
            assert resource.body == fresh.resources[path].body, path
            assert resource.gzipped == fresh.resources[path].gzipped, path
            assert strict_gunzip(resource.gzipped) == resource.body, path
    (tmp_path / "a3.txt").unlink()
    library.apply({"a3.txt"})
    site = renderer.site(library)
    for path in ("/feed.atom", "/feed.rss", "/feed.json"):
        resource = site.resources[path]
        assert strict_gunzip(resource.gzipped) == resource.body
        one_pass = gzip.compress(resource.body, 6, mtime=0)
        assert len(resource.gzipped) <= 1.15 * len(one_pass), path


def test_an_update_is_served_before_its_gzip_is_ready(tmp_path: Path) -> None:
    """The early site of an update: every document as the whole site has it, the ones that
    changed without gzip yet (the server sends them uncompressed), the others with theirs."""
    configured = dataclasses.replace(Settings(), seeds=str(tmp_path), max_entries=5, cache=False)
    for i in range(8):
        (tmp_path / f"a{i}.txt").write_text(
            article_text(f"A{i}", shuffled_text(i), f"date 2021-03-{i + 1:02} Wire")
        )
    library = Library(configured)
    library.scan()
    renderer = Renderer(configured)
    early: list[Site] = []
    before = renderer.site(library, early.append)
    assert len(early) == 1  # the first site is early too
    old = "a0.txt"  # older than every article the feeds carry: no document changes
    (tmp_path / old).write_text(article_text("A0", shuffled_text(100), "date 2021-03-01 Wire"))
    library.apply({old})
    renderer.site(library, early.append)
    assert len(early) == 1
    (tmp_path / "new.txt").write_text(article_text("New", shuffled_text(9), "date 2021-03-20 Wire"))
    library.apply({"new.txt"})
    whole = renderer.site(library, early.append)
    first = early[-1]
    assert len(early) == 2
    assert first.resources.keys() == whole.resources.keys()
    changed = set()
    for path, resource in whole.resources.items():
        assert strict_gunzip(resource.gzipped) == resource.body, path
        served = first.resources[path]
        assert (served.body, served.etag) == (resource.body, resource.etag), path
        if resource.etag == before.resources[path].etag:
            assert served is before.resources[path], path  # with its gzip
        else:
            assert served.gzipped is None, path
            changed.add(path)
    assert {"/feed.atom", "/feed.rss", "/feed.json", "/"} <= changed
