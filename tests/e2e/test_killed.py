"""`kill -9` at random moments: of a cold start, of a warm start, of a burst of changes. After
each, the processes feedd started are gone; once a last start has settled, what it serves (the
feeds with every archive page, the pages) and its static copy hold exactly what the folder
holds, each article once.

The moments come from a seeded random generator: `KILL_SEED` replays a run, `KILL_ROUNDS`
makes it longer.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.html
import pytest
from helpers import Daemon, article, running_daemon, wait_for

from feedd.config import Settings
from feedd.library.library import Library
from feedd.parse.article import entry_id

SEED = int(os.environ.get("KILL_SEED", "20261207"))
ROUNDS = int(os.environ.get("KILL_ROUNDS", "8"))
FILES = 2500  # past what a start reads in worker processes
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")

pytestmark = pytest.mark.timeout(0 if "KILL_ROUNDS" in os.environ else 300)


def _stats() -> dict[int, list[str]]:
    """Every process's /proc/PID/stat fields after the command name (state [0], ppid [1],
    process group [2])."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
    return stats


def _children(pid: int) -> set[int]:
    """Every process below `pid`, found by their parents in /proc."""
    parents = {child: int(fields[1]) for child, fields in _stats().items()}
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _in_group(group: int) -> set[int]:
    """The live processes of process group `group`, wherever their parents went."""
    return {pid for pid, fields in _stats().items() if int(fields[2]) == group and fields[0] != "Z"}


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Folder:
    """The articles, changed at random: written, edited, deleted, renamed and moved."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.made = 0

    def populate(self, count: int) -> None:
        for i in range(count):
            self.write_new(f"d{i % 10}")

    def write_new(self, folder: str) -> None:
        self.made += 1
        path = self.root / folder / f"n{self.made:05}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        day = f"2021-{1 + self.made % 12:02}-{1 + self.made % 28:02}"
        path.write_text(article(f"Article {self.made}", day=day))

    def files(self) -> list[Path]:
        return sorted(self.root.rglob("*.txt"))

    def change(self) -> None:
        """One change, of any kind a publisher makes."""
        files = self.files()
        kind = self.rng.choice(["new", "new", "edit", "delete", "rename", "move"])
        if kind == "new" or not files:
            self.write_new(f"d{self.rng.randrange(12)}")
            return
        victim = self.rng.choice(files)
        if kind == "edit":
            victim.write_text(article(f"Edited {self.made} {victim.stem}"))
        elif kind == "delete":
            victim.unlink()
        else:
            self.made += 1
            folder = victim.parent if kind == "rename" else self.root / f"d{self.rng.randrange(12)}"
            folder.mkdir(exist_ok=True)
            victim.rename(folder / f"m{self.made:05}.txt")


def start(seeds: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    assert process.stderr is not None
    stream = process.stderr
    threading.Thread(target=lambda: log.extend(stream), daemon=True).start()
    return process, log


def killed(process: subprocess.Popen[str]) -> None:
    """SIGKILL, then every process it started must end by itself: those below it now, and
    those its update process (a process group of its own) starts meanwhile, orphans once it
    ends."""
    below = _children(process.pid)
    ours = os.getpgid(0)
    groups = {group for group in map(_group, below) if group not in (None, ours)}
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    wait_for(lambda: not any(map(_alive, below)), what="the processes feedd started to end")
    wait_for(lambda: not any(map(_in_group, groups)), what="the update process's group to end")
    assert process.stderr is not None
    process.stderr.close()


def served_ids(daemon: Daemon) -> list[str]:
    """Every entry id a reader collects from the Atom feed and its archive pages."""
    ids: list[str] = []
    path: str | None = "/feed.atom"
    while path is not None:
        response = daemon.get(path)
        assert response.status == 200, path
        parsed = feedparser.parse(response.body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        ids += [entry.id for entry in parsed.entries]
        older = [link.href for link in parsed.feed.get("links", []) if link.rel == "prev-archive"]
        path = unquote(urlsplit(older[0]).path) if older else None
    return ids


def test_killed_at_random_moments_then_the_feeds_and_the_copy_match_the_folder(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)  # noqa: S311 (moments to replay, not secrets)
    seeds, state, copy = tmp_path / "seeds", tmp_path / "state", tmp_path / "public"
    folder = Folder(seeds, rng)
    folder.populate(FILES)
    args = ("--state-dir", str(state), "--publish", str(copy), "--max-entries", "20")
    moments = []
    for round_ in range(ROUNDS):
        process, log = start(seeds, *args)
        if round_ % 2 == 0:  # a start: cold the first time, warm after
            moment = rng.uniform(0.2, 2.5)
            time.sleep(moment)  # the moment of the fault, drawn at random
            moments.append(f"start+{moment:.2f}s")
        else:  # a burst, once serving
            port = wait_for(
                lambda log=log: next(filter(None, map(_LISTENING.search, list(log))), None),
                timeout=30,
                what="the daemon to listen",
            )
            daemon = Daemon(process, int(port.group(1)))
            wait_for(lambda d=daemon: d.get("/healthz").status == 200, 60, "the first site")
            changes = rng.randrange(50, 400)
            kill_at = rng.randrange(changes)
            for i in range(changes):
                if i == kill_at:
                    process.send_signal(signal.SIGKILL)
                folder.change()
            moments.append(f"burst {kill_at}/{changes}")
        killed(process)
        for _ in range(rng.randrange(0, 30)):  # while it is down
            folder.change()

    library = Library(Settings(seeds=seeds, cache=False))
    library.scan()
    expected = sorted(entry_id(path) for path in library.entries)
    pages = {entry.page for entry in library.entries.values()}
    with running_daemon(seeds, *args, timeout=60) as daemon:
        wait_for(lambda: daemon.health()["checked"], timeout=60, what="the check")
        about = f"seed {SEED}, moments {moments}"
        assert daemon.health()["articles"] == len(expected), about
        assert sorted(served_ids(daemon)) == expected, about
        for page in rng.sample(sorted(pages), 20):
            assert daemon.get(page).status == 200, (page, about)

        def copied() -> set[str]:
            return {
                "/" + path.relative_to(copy).as_posix()
                for path in (copy / "articles").rglob("*.html")
            }

        wait_for(lambda: copied() == pages, timeout=60, what=f"the copy in step ({about})")
        assert daemon.stop() == 0  # (a kill now could leave a temporary file of its own)
    for path in copy.rglob(".feedd-*.tmp"):
        raise AssertionError(f"a temporary file left: {path}")
    for page in rng.sample(sorted(pages), 20):
        document = lxml.html.fromstring((copy / page.lstrip("/")).read_bytes())
        assert document.findtext(".//h1"), page
