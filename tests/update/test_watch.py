"""The watcher: turning watchfiles' absolute paths into the relative paths the updater reads,
and following folders as they come."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import wait_for
from hypothesis import given
from hypothesis import strategies as st

from feedd.update import watch
from feedd.update.watch import FolderWatcher, relative_paths

ROOT = "/srv/feedd/seeds"

names = st.sampled_from(["a", "b.txt", ".hidden", ".", "..", "", "seeds", "x y"])
paths = st.builds(
    lambda start, parts: "/".join([start, *parts]),
    st.sampled_from([ROOT, "/srv/feedd", "/srv/feedd/seeds2", "/"]),
    st.lists(names, max_size=4),
)


def by_relpath(root: str, path: str) -> set[str]:
    """The plain definition: `os.path.relpath`, keeping what stays inside `root`."""
    rel = os.path.relpath(path, root)
    if rel == ".":
        return {""}
    return set() if rel == ".." or rel.startswith("../") else {rel}


@given(st.lists(paths, max_size=6))
def test_the_fast_cut_agrees_with_relpath(batch: list[str]) -> None:
    expected = set().union(*(by_relpath(ROOT, path) for path in batch))
    assert relative_paths(ROOT, batch) == expected


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
    went, and would never say so: the watcher sees that it moved, waits for it, and watches
    it again where it belongs."""
    root, away = tmp_path / "root", tmp_path / "away"
    root.mkdir()
    real_folders = watch._folders
    moves = []

    def folders_then_moved(path: str) -> list[str]:
        listed = real_folders(path)
        if not moves:
            moves.append(root.rename(away))
        return listed

    monkeypatch.setattr(watch, "_folders", folders_then_moved)
    seen: set[str] = set()
    rescans = threading.Semaphore(0)
    watcher = recording_watcher(root, seen, rescans.release)
    watcher.start()
    try:
        wait_for(lambda: moves, what="the move")
        away.rename(root)
        assert rescans.acquire(timeout=10)  # watched again, where it belongs
        (root / "x.txt").write_text("x")
        wait_for(lambda: "x.txt" in seen, what="a file written after the move back")
    finally:
        watcher.stop()
