"""The publisher thread given a first scan made before it, as a publishing process makes one
before it knows its port."""

from __future__ import annotations

import queue
from pathlib import Path

import feedparser

from feedd.config import Settings
from feedd.publisher import FirstScan, Publisher, Update


def article(title: str) -> str:
    return f" date 2021-01-02 Wire\n{title}\n\nBody.\n"


def first_update(settings: Settings, first_scan: FirstScan) -> Update:
    updates: queue.SimpleQueue[Update] = queue.SimpleQueue()
    publisher = Publisher(settings, updates.put, first_scan=first_scan)
    publisher.start()
    try:
        return updates.get(timeout=30)
    finally:
        publisher.stop()


def titles(update: Update) -> set[str]:
    feed = feedparser.parse(update.site.resources["/feed.atom"].body)
    return {entry.title for entry in feed.entries}


def test_a_first_scan_made_before_the_port_was_known_is_published_with_the_port(
    tmp_path: Path,
) -> None:
    for name in ("alpha", "bravo"):
        (tmp_path / f"{name}.txt").write_text(article(name.title()))
    scan = FirstScan(Settings(seeds=tmp_path, port=0, cache=False), checked_later=True)
    scan.result()
    # Written after that scan: a publisher that read the folder again would publish it now;
    # taking the scan, it publishes it at its next rescan.
    (tmp_path / "charlie.txt").write_text(article("Charlie"))
    update = first_update(Settings(seeds=tmp_path, port=8123, cache=False), scan)
    assert titles(update) == {"Alpha", "Bravo"}
    assert update.rescanned and update.changed == {"alpha.txt", "bravo.txt"}
    feed = feedparser.parse(update.site.resources["/feed.atom"].body)
    assert all(entry.link.startswith("http://127.0.0.1:8123/") for entry in feed.entries)


def test_a_first_scan_made_with_other_settings_is_not_taken(tmp_path: Path) -> None:
    """Only the port may differ: a first scan that read other files (or read them otherwise)
    would publish what the settings do not say."""
    (tmp_path / "alpha.txt").write_text(article("Alpha"))
    (tmp_path / "bravo.md").write_text(article("Bravo"))
    scan = FirstScan(Settings(seeds=tmp_path, include=("*.md",), cache=False), checked_later=True)
    update = first_update(Settings(seeds=tmp_path, cache=False), scan)
    assert titles(update) == {"Alpha"}
