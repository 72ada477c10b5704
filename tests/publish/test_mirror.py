"""`serve --publish`'s mirror, in process: after any sequence of changes, every file in the
folder is exactly what the server would answer for its path, and nothing else is there."""

from __future__ import annotations

import gzip
import logging
import random
from pathlib import Path

import pytest
from helpers import article

from feedd import urls
from feedd.config import Settings
from feedd.library.library import Library, article_loader
from feedd.publish import folder
from feedd.publish.mirror import Mirror
from feedd.render.listings import ListingRenderer, listing, on_demand_feeds
from feedd.render.pages import PageRenderer
from feedd.render.renderer import Renderer
from feedd.render.site import Site

SOURCES = ("TASS", "Meridian Wire", "UrduPoint.com")


def date(day: int) -> str:
    """The `day`th date of 2021 in a calendar of 28-day months."""
    return f"2021-{1 + day // 28:02}-{1 + day % 28:02}"


def expected(site: Site, settings: Settings) -> dict[str, bytes]:
    """Every file the folder should hold: what the server answers for each path."""
    load = article_loader(settings)
    pages, listings = PageRenderer(settings, load), ListingRenderer(settings, load)
    files = {}
    for path, resource in site.resources.items():
        files[folder.file_name(path)] = resource.body
    for path, entry in site.pages.items():
        page = pages(entry)
        assert page is not None
        files[folder.file_name(path)] = page.body
    for path in on_demand_feeds(site):
        found = listing(site, path, settings)
        assert found is not None
        built = listings(found)
        assert built is not None
        files[folder.file_name(path)] = built.body
    return files


def on_disk(out: Path) -> dict[str, bytes]:
    files = {}
    for file in out.rglob("*"):
        if file.is_file() and not file.name.startswith(".") and file.suffix != ".gz":
            name = file.relative_to(out).as_posix()
            files[name] = file.read_bytes()
            assert gzip.decompress((out / f"{name}.gz").read_bytes()) == files[name], name
    return files


@pytest.mark.parametrize("seed", range(6))
def test_the_folder_follows_any_sequence_of_changes(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 (a reproducible sequence, not a secret)
    seeds, out = tmp_path / "seeds", tmp_path / "public"
    seeds.mkdir()
    settings = Settings(seeds=seeds, max_entries=3, base_url="https://news.example/")
    library, renderer = Library(settings), Renderer(settings)
    mirror = Mirror(out)
    mirror.start()
    try:
        changes = library.scan()
        mirror.publish(renderer.site(library), changes.changed, settings)
        names = [f"{sub}a{n}.txt" for sub in ("", "x/", "x/y/") for n in range(6)]
        for step in range(40):
            name = rng.choice(names)
            path = seeds / name
            roll = rng.random()
            touched = [name]
            if roll < 0.2 and path.exists():
                path.unlink()
            elif roll < 0.3 and path.exists():
                target = rng.choice(names)
                (seeds / target).parent.mkdir(parents=True, exist_ok=True)
                path.rename(seeds / target)
                touched.append(target)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                day = rng.randrange(80)
                path.write_text(article(f"S{step}", day=date(day), source=rng.choice(SOURCES)))
            changes = library.apply(touched)
            site = renderer.site(library)
            mirror.publish(site, changes.changed, settings)
            if rng.random() < 0.3:  # now and then, let it catch up; else updates coalesce
                assert mirror.wait_idle(30)
                assert on_disk(out) == expected(site, settings), f"step {step}"
        assert mirror.wait_idle(30)
        assert on_disk(out) == expected(site, settings)
    finally:
        mirror.stop()


def test_archive_pages_follow_articles_published_at_the_top_across_months(
    tmp_path: Path,
) -> None:
    """The common update: a new article on top pushes the oldest one the feeds carried into
    the archive. The mirror then makes again only the archive's last page or two; the pages
    before them must still be linked right when the archive reaches a new month or page."""
    seeds, out = tmp_path / "seeds", tmp_path / "public"
    seeds.mkdir()
    settings = Settings(seeds=seeds, max_entries=2, base_url="https://news.example/")
    library, renderer = Library(settings), Renderer(settings)
    mirror = Mirror(out)
    mirror.start()
    try:
        mirror.publish(renderer.site(library), library.scan().changed, settings)
        for day in range(0, 100, 3):  # 2021-01-01 on, three days apart: about a month a page
            name = f"a{day:03}.txt"
            (seeds / name).write_text(article(f"Day {day}", day=date(day), source=SOURCES[day % 2]))
            changes = library.apply([name])
            site = renderer.site(library)
            mirror.publish(site, changes.changed, settings)
            assert mirror.wait_idle(30)
            assert on_disk(out) == expected(site, settings), f"day {day}"
        assert site.archive is not None and len(site.archive.pages()) > 10
    finally:
        mirror.stop()


def test_a_folder_it_cannot_write_is_retried_and_caught_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeds, out = tmp_path / "seeds", tmp_path / "public"
    seeds.mkdir()
    (seeds / "a.txt").write_text(article("Alpha", day=date(3), source="TASS"))
    settings = Settings(seeds=seeds, max_entries=3, base_url="https://news.example/")
    library, renderer = Library(settings), Renderer(settings)
    out.write_text("a file where the folder should be")
    mirror = Mirror(out)
    mirror.start()
    try:
        with caplog.at_level(logging.ERROR, logger="feedd.publish.mirror"):
            changes = library.scan()
            mirror.publish(renderer.site(library), changes.changed, settings)
            assert not mirror.wait_idle(0.5)  # failed, and waiting to retry
            assert f"cannot publish to {out}" in caplog.text
        out.unlink()
        (seeds / "b.txt").write_text(article("Bravo", day=date(4), source="TASS"))
        changes = library.apply(["b.txt"])
        site = renderer.site(library)
        mirror.publish(site, changes.changed, settings)
        assert mirror.wait_idle(30)
        assert on_disk(out) == expected(site, settings)
        assert urls.source_path("TASS", ".atom").lstrip("/") in on_disk(out)
    finally:
        mirror.stop()
