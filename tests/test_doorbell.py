"""The doorbell rings for every change notify reports, in folders that came after it too; its
watches are not mistaken for the watcher's when those are counted; and it works where the
daemon runs it: on a descriptor past 1023, under MemoryDenyWriteExecute."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchfiles import Change

from feedd.doorbell import Doorbell
from feedd.watch import _folders, _inotify_watches


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "old").mkdir(parents=True)
    (tmp_path / "root" / "old" / "a.txt").write_text("a")
    (tmp_path / "outside" / "tree" / "below").mkdir(parents=True)
    return tmp_path / "root"


@pytest.fixture
def bell(root: Path) -> Iterator[Doorbell]:
    bell = Doorbell.open(str(root), _folders(str(root)))
    if bell is None:
        pytest.skip("no inotify here")
    yield bell
    bell.close()


def ring(bell: Doorbell, change: Callable[[], object]) -> bool | None:
    """Whether `change`, made whole before the bell is looked at, rings a bell that was quiet
    before it: None if not, else whether the ring says the change is whole."""
    while bell.wait(0.05):
        bell.drain(set())
    change()
    if not bell.wait(5):
        return None
    return bell.drain(set())


def heard(bell: Doorbell, change: Callable[[], object]) -> set[tuple[int, str]]:
    """What the bell heard of `change` (made whole before it is looked at)."""
    while bell.wait(0.05):
        bell.drain(set())
    change()
    found: set[tuple[int, str]] = set()
    while bell.wait(0.2):
        bell.drain(found)
    return found


def rings_for(bell: Doorbell, change: Callable[[], object]) -> bool:
    return ring(bell, change) is not None


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def test_quiet_while_nothing_changes(root: Path, bell: Doorbell) -> None:
    (root / "old" / "a.txt").read_text()  # reading is no change
    assert not bell.wait(0.2)


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "new.txt").write_text("new"),
        lambda root: (root / "old" / "a.txt").write_text("rewritten"),
        lambda root: append(root / "old" / "a.txt", "appended"),
        lambda root: os.utime(root / "old" / "a.txt", (0, 0)),
        lambda root: (root / "old" / "a.txt").chmod(0o600),
        lambda root: (root / "old" / "a.txt").rename(root / "old" / "b.txt"),
        lambda root: (root / "old" / "a.txt").rename(root / "a.txt"),
        lambda root: (root / "old" / "a.txt").rename(root.parent / "gone.txt"),
        lambda root: (root / "old" / "a.txt").unlink(),
        lambda root: (root / "old").rename(root / "renamed"),
    ],
    ids=[
        "created",
        "rewritten",
        "appended",
        "touched",
        "chmod",
        "renamed",
        "moved up",
        "moved out",
        "deleted",
        "folder renamed",
    ],
)
def test_rings_for_every_kind_of_change_and_says_it_is_whole(
    root: Path, bell: Doorbell, change: Callable[[Path], object]
) -> None:
    assert ring(bell, lambda: change(root)) is True


def test_a_file_still_open_for_writing_is_not_whole_until_closed(
    root: Path, bell: Doorbell
) -> None:
    """The watcher looks at once only at what is whole: a file read between its writer's
    create and close would be published half written."""
    with (root / "new.txt").open("w") as file:
        assert ring(bell, lambda: (file.write("half"), file.flush())) is False
        assert ring(bell, lambda: (file.write(" and more"), file.flush())) is False
        assert ring(bell, file.close) is True


def test_folders_that_come_later_are_watched(root: Path, bell: Doorbell) -> None:
    assert rings_for(bell, lambda: (root / "new").mkdir())
    assert rings_for(bell, lambda: (root / "new" / "a.txt").write_text("a"))
    # A tree moved in brings folders of its own.
    assert rings_for(bell, lambda: (root.parent / "outside" / "tree").rename(root / "tree"))
    assert rings_for(bell, lambda: (root / "tree" / "below" / "b.txt").write_text("b"))
    # A folder moved within the tree is followed at its new place, and so is what it gets.
    assert rings_for(bell, lambda: (root / "tree").rename(root / "old" / "moved"))
    assert rings_for(bell, lambda: (root / "old" / "moved" / "below" / "deeper").mkdir())
    assert rings_for(bell, lambda: (root / "old" / "moved" / "below" / "deeper" / "c").touch())


def test_a_deleted_folder_is_forgotten(root: Path, bell: Doorbell) -> None:
    (root / "old" / "a.txt").unlink()
    assert rings_for(bell, lambda: (root / "old").rmdir())
    assert rings_for(bell, lambda: (root / "old").mkdir())  # the same path, a new folder
    assert rings_for(bell, lambda: (root / "old" / "a.txt").write_text("a"))


def test_its_watches_are_not_counted_as_the_watchers(root: Path) -> None:
    before = _inotify_watches()
    if before is None:
        pytest.skip("no /proc here")
    bell = Doorbell.open(str(root), _folders(str(root)))
    assert bell is not None
    try:
        assert _inotify_watches() == before + 2  # the root and old/
        assert _inotify_watches(ignore=bell.fileno()) == before
    finally:
        bell.close()


def test_waits_on_a_descriptor_past_1023(root: Path) -> None:
    """A watcher restarted while a thousand connections are open gets a descriptor that
    `select` cannot wait on."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("the open-file limit is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1050)]
    try:
        bell = Doorbell.open(str(root), _folders(str(root)))
        assert bell is not None and bell.fileno() > 1023
        try:
            assert rings_for(bell, lambda: (root / "new.txt").write_text("new"))
        finally:
            bell.close()
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


_UNDER_MDWE = """
import ctypes, pathlib, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
from feedd.doorbell import Doorbell
from feedd.watch import _folders
bell = Doorbell.open(sys.argv[1], _folders(sys.argv[1]))
pathlib.Path(sys.argv[1], "new.txt").write_text("new")
print(bell is not None and bell.wait(5))
"""


def test_rings_under_memory_deny_write_execute(root: Path) -> None:
    """The unit in deploy/ sets MemoryDenyWriteExecute=yes: no memory both writable and
    executable, which ctypes callbacks need with libffi before 3.4. The doorbell makes plain
    calls only. The kernel's own switch for it stands in for systemd."""
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, str(root)], capture_output=True, text=True, timeout=60
    )
    if done.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")


def test_it_says_where_as_watchfiles_would(root: Path, bell: Doorbell) -> None:
    """Paths and kinds as watchfiles reports them: the watcher adds them to its batch."""
    old, new = root / "old" / "a.txt", root / "new.txt"
    assert (Change.added, str(new)) in heard(bell, lambda: new.write_text("new"))
    assert heard(bell, lambda: append(new, "more")) == {(Change.modified, str(new))}
    assert heard(bell, lambda: old.rename(root / "b.txt")) == {
        (Change.deleted, str(old)),
        (Change.added, str(root / "b.txt")),
    }
    assert heard(bell, new.unlink) == {(Change.deleted, str(new))}
    assert heard(bell, lambda: (root / "sub").mkdir()) == {(Change.added, str(root / "sub"))}
    assert (Change.added, str(root / "sub" / "c.txt")) in heard(
        bell, lambda: (root / "sub" / "c.txt").write_text("c")
    )
