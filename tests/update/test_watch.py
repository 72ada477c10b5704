"""The watcher: following folders as they come and go, and starting again when it fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import wait_for

from feedd.update import watch
from feedd.update.watch import FolderWatcher


def recording_watcher(root: Path, seen: set[str], on_rescan: Callable[[], None]) -> FolderWatcher:
    """A watcher on `root` (a 4 ms step) that adds every path it hands on to `seen`, and at a
    rescan every path there is, as the updater would find them."""

    def rescan() -> None:
        seen.update(str(path.relative_to(root)) for path in root.rglob("*"))
        on_rescan()

    return FolderWatcher(
        str(root),
        4,
        on_paths=lambda paths, _: seen.update(paths),
        on_rescan=rescan,
        is_candidate=lambda path: True,
    )


def test_folders_that_come_are_watched_under_their_names(tmp_path: Path) -> None:
    """Each folder is watched on its own: one renamed, or moved in with folders of its own, is
    watched again where it is now, and what is written in it is found under that name (as an
    event, or by the rescan that follows new watches)."""
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "outside" / "tree" / "deep").mkdir(parents=True)
    seen: set[str] = set()
    ready = threading.Event()
    watcher = recording_watcher(root, seen, ready.set)
    watcher.start()
    try:
        assert ready.wait(10)
        (root / "a").rename(root / "b")
        wait_for(lambda: "b" in seen, what="the rename")
        (root / "b" / "x.txt").write_text("x")
        wait_for(lambda: "b/x.txt" in seen, what="a file in the renamed folder")
        (tmp_path / "outside" / "tree").rename(root / "b" / "tree")
        wait_for(lambda: "b/tree" in seen, what="the tree moved in")
        (root / "b" / "tree" / "deep" / "y.txt").write_text("y")
        wait_for(lambda: "b/tree/deep/y.txt" in seen, what="a file deep in the tree")
    finally:
        watcher.stop()
    assert not any(path.startswith("a/") for path in seen)


def test_a_watcher_may_be_stopped_before_it_starts_and_started_twice(tmp_path: Path) -> None:
    """The daemon starts its watcher once the first site is out, and may stop before then."""
    rescans = threading.Semaphore(0)
    recording_watcher(tmp_path, set(), rescans.release).stop()
    watcher = recording_watcher(tmp_path, set(), rescans.release)
    watcher.start()
    watcher.start()  # a thread started twice would raise
    try:
        assert rescans.acquire(timeout=10)
    finally:
        watcher.stop()


def test_a_folder_moved_while_its_watches_are_set_up_is_watched_when_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watches set up on a folder that moves meanwhile watch nothing, or the folder where it
    went: the watcher sees that it moved, waits for it, and watches it again where it
    belongs."""
    root, away = tmp_path / "root", tmp_path / "away"
    root.mkdir()
    real_add_tree = watch._Watches.add_tree
    moves = []

    def add_tree_then_moved(self: watch._Watches, top: str) -> None:
        real_add_tree(self, top)
        if not moves:
            moves.append(root.rename(away))

    monkeypatch.setattr(watch._Watches, "add_tree", add_tree_then_moved)
    seen: set[str] = set()
    rescans = threading.Semaphore(0)
    watcher = recording_watcher(root, seen, rescans.release)
    watcher.start()
    try:
        wait_for(lambda: moves, what="the move")
        assert rescans.acquire(timeout=10)  # the first setup's rescan
        away.rename(root)
        assert rescans.acquire(timeout=10)  # watched again, where it belongs
        (root / "x.txt").write_text("x")
        wait_for(lambda: "x.txt" in seen, what="a file written after the move back")
    finally:
        watcher.stop()


def test_a_watcher_that_fails_logs_it_rescans_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever raises while events are handed on (here the updater's callback, once), the
    watcher logs it, sets its watches up again, rescans for what it may have missed and
    follows the folder as before."""
    rescans = threading.Semaphore(0)
    seen: set[str] = set()

    def on_paths(paths: set[str], _: float) -> None:
        if "boom.txt" in paths and "boom.txt" not in seen:
            seen.add("boom.txt")
            raise RuntimeError("the updater is broken")
        seen.update(paths)

    watcher = FolderWatcher(
        str(tmp_path),
        4,
        on_paths=on_paths,
        on_rescan=rescans.release,
        is_candidate=lambda path: path.endswith(".txt"),
    )
    with caplog.at_level(logging.WARNING, logger="feedd.update.watch"):
        watcher.start()
        try:
            assert rescans.acquire(timeout=10), "the first rescan, once watching"
            (tmp_path / "boom.txt").write_text("x")
            assert rescans.acquire(timeout=10), "a rescan by the restarted watcher"
            (tmp_path / "after.txt").write_text("y")
            wait_for(lambda: "after.txt" in seen, what="the restarted watcher to see a file")
        finally:
            watcher.stop()
    failures = [r.getMessage() for r in caplog.records if "file watcher failed" in r.getMessage()]
    assert failures == ["file watcher failed: the updater is broken; rescanning and restarting it"]
