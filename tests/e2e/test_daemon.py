"""The real `feedd serve` in a subprocess: the folder changes, the served feeds follow."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
from pathlib import Path

import pytest
from helpers import article, running_daemon, wait_for

FEEDS = ("/feed.atom", "/feed.rss", "/feed.json")


def served_titles(daemon, path: str) -> set[str]:  # type: ignore[no-untyped-def]
    if path == "/feed.json":
        return {item["title"] for item in json.loads(daemon.get(path).body)["items"]}
    return daemon.titles(path)


def everywhere(daemon, expected: set[str]) -> bool:  # type: ignore[no-untyped-def]
    return all(served_titles(daemon, path) == expected for path in FEEDS)


def rescans(daemon) -> int:  # type: ignore[no-untyped-def]
    metrics = daemon.get("/metrics").body.decode()
    return int(re.search(r"^feedd_rescans_total (\d+)$", metrics, re.M).group(1))  # type: ignore[union-attr]


def test_serves_the_folder_and_follows_every_kind_of_change(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        assert everywhere(daemon, {"Alpha", "Bravo"})
        health = daemon.health()
        assert health["status"] == "ok" and health["articles"] == 2 and health["rejected"] == 0

        (seeds / "c.txt").write_text(article("Charlie"))
        wait_for(lambda: everywhere(daemon, {"Alpha", "Bravo", "Charlie"}), what="a dropped file")
        assert daemon.get("/articles/c.html").status == 200

        ids = {e.title: e.id for e in daemon.feed().entries}
        (seeds / "a.txt").write_text(article("Alpha, edited"))
        wait_for(lambda: everywhere(daemon, {"Alpha, edited", "Bravo", "Charlie"}), what="an edit")
        assert {e.title: e.id for e in daemon.feed().entries}["Alpha, edited"] == ids["Alpha"]

        (seeds / "c.txt").rename(seeds / "d.txt")
        # The rename's two sides may come in two batches (the old name gone, then the new).
        wait_for(
            lambda: (
                daemon.get("/articles/c.html").status == 404
                and daemon.get("/articles/d.html").status == 200
            ),
            what="the page to move",
        )
        assert [e.title for e in daemon.feed().entries].count("Charlie") == 1

        (seeds / "d.txt").unlink()
        wait_for(lambda: everywhere(daemon, {"Alpha, edited", "Bravo"}), what="a deletion")

        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "e.txt").write_text(article("Echo"))
        outside.rename(seeds / "moved-in")
        wait_for(
            lambda: everywhere(daemon, {"Alpha, edited", "Bravo", "Echo"}), what="a folder moved in"
        )
        (seeds / "moved-in").rename(tmp_path / "moved-out")
        wait_for(lambda: everywhere(daemon, {"Alpha, edited", "Bravo"}), what="a folder moved out")
        assert daemon.stop() == 0


def test_the_watches_are_set_up_once_the_first_site_is_out(seeds: Path) -> None:
    """The watches are set up once the first site is out, so that a cold start publishes as
    soon as it can. What comes before they are in place is not missed: their setup rescans."""
    for i in range(500):  # a first scan that takes longer than setting watches up
        (seeds / f"old{i}.txt").write_text(article(f"Old {i}", day="2020-01-01"))
    with running_daemon(seeds) as daemon:
        (seeds / "early.txt").write_text(article("Early"))
        log = list(daemon.log)  # running_daemon waited for the watches
        first_site = next(i for i, line in enumerate(log) if "published 502 articles" in line)
        watching = next(i for i, line in enumerate(log) if "for changes" in line)
        assert first_site < watching
        wait_for(lambda: "Early" in daemon.titles(), what="the early file")


def test_messy_writers(seeds: Path) -> None:
    with running_daemon(seeds) as daemon:
        # Written in two halves (the headline whole in the first): the second write is picked
        # up, the result is whole.
        text = article("Halves", body="Body first line. The end of the story.")
        half = len(text) // 2
        with (seeds / "halves.txt").open("w") as file:
            file.write(text[:half])
        wait_for(lambda: "Halves" in daemon.titles(), what="the first half")
        with (seeds / "halves.txt").open("a") as file:
            file.write(text[half:])
        wait_for(
            lambda: "The end of the story." in daemon.get("/articles/halves.html").body.decode(),
            what="the second half",
        )

        # Written under temporary and hidden names, then renamed into place.
        for temporary in ("incoming.txt.tmp", ".incoming.txt", "incoming.txt~"):
            (seeds / temporary).write_text(article(f"Renamed from {temporary}"))
            assert f"Renamed from {temporary}" not in daemon.titles()
            (seeds / temporary).rename(seeds / "incoming.txt")
            wait_for(
                lambda t=temporary: f"Renamed from {t}" in daemon.titles(),
                what="a rename into place",
            )
        titles = [e.title for e in daemon.feed().entries]
        assert len(titles) == len(set(titles)), "a rename must never leave a duplicate"


def test_a_burst_is_coalesced_and_nothing_is_lost(seeds: Path) -> None:
    with running_daemon(seeds) as daemon:
        for i in range(2000):
            (seeds / f"burst-{i:04}.txt").write_text(article(f"Burst {i}"))
        wait_for(lambda: daemon.health()["articles"] == 2002, timeout=60, what="all 2000 files")
        metrics = daemon.get("/metrics").body.decode()
        updates = int(re.search(r"^feedd_updates_total (\d+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
        assert updates < 200, f"{updates} renders for one burst of 2000 files"
        for i in range(2000):
            (seeds / f"burst-{i:04}.txt").unlink()
        wait_for(lambda: daemon.health()["articles"] == 2, timeout=60, what="the burst deleted")


def test_a_broken_file_is_reported_once_and_loses_nothing(seeds: Path) -> None:
    with running_daemon(seeds, "--rescan-interval", "0.2") as daemon:
        (seeds / "broken.txt").write_bytes(b" date 2021-01-02 Wire\n\n\n")
        wait_for(lambda: daemon.health()["rejected"] == 1, what="the rejection")
        assert everywhere(daemon, {"Alpha", "Bravo"})
        wait_for(lambda: rescans(daemon) >= 3, what="three rescans")
        assert len(daemon.logged(r"rejected broken\.txt: no headline")) == 1
        (seeds / "broken.txt").write_text(article("Fixed"))
        wait_for(lambda: everywhere(daemon, {"Alpha", "Bravo", "Fixed"}), what="the fix")
        assert daemon.health()["rejected"] == 0


def test_the_folder_moved_away_and_recreated(seeds: Path, tmp_path: Path) -> None:
    with running_daemon(seeds) as daemon:
        seeds.rename(tmp_path / "moved-away")  # in one step, as a deploy swaps folders
        wait_for(lambda: daemon.logged("is missing; keeping what was published"), what="notice")
        assert everywhere(daemon, {"Alpha", "Bravo"}), "the last good site stays served"
        seeds.mkdir()
        (seeds / "back.txt").write_text(article("Back"))
        wait_for(lambda: daemon.titles() == {"Back"}, what="the recreated folder")
        (seeds / "again.txt").write_text(article("Again"))
        wait_for(lambda: daemon.titles() == {"Back", "Again"}, what="the watcher restarted")


def test_sighup_reloads_settings(seeds: Path, tmp_path: Path) -> None:
    config = tmp_path / "feedd.toml"
    config.write_text('title = "Before"\n')
    with running_daemon(seeds, "--config", str(config)) as daemon:
        assert daemon.feed().feed.title == "Before"
        config.write_text('title = "After"\nmax_entries = 1\n')
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: daemon.feed().feed.title == "After", what="the reload")
        assert len(daemon.feed().entries) == 1
        config.write_text("max_entries = -1\n")
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: daemon.logged("reload refused.*max_entries"), what="the refusal")
        assert daemon.feed().feed.title == "After", "a bad reload keeps the running settings"
        assert daemon.stop() == 0


def test_a_restart_serves_the_cache_at_once_then_what_changed_while_stopped(
    seeds: Path, tmp_path: Path
) -> None:
    """The first site after a restart comes from the cache without a walk of the folder; the
    watcher's first rescan then brings in what changed while feedd was stopped."""
    env = {"FEEDD_STATE_DIR": str(tmp_path / "state")}
    (seeds / "d.txt").write_text(article("Delta"))
    with running_daemon(seeds, env=env) as daemon:
        assert daemon.health()["checked"] is True
        assert daemon.stop() == 0
        assert not daemon.logged("killing it"), "a clean stop: the update process ends itself"
    with running_daemon(seeds, env=env) as daemon:  # nothing changed: only checked
        wait_for(lambda: daemon.health()["checked"], what="the check")
        assert daemon.logged(r"published 3 articles: 3 changed, 0 rejected \(from the cache")
        assert everywhere(daemon, {"Alpha", "Bravo", "Delta"})
        assert daemon.stop() == 0
    (seeds / "a.txt").write_text(article("Alpha, edited"))
    (seeds / "b.txt").unlink()
    (seeds / "c.txt").write_text(article("Charlie"))
    (seeds / "d.txt").write_text("\n")
    (seeds / "broken.txt").write_text("\n")
    with running_daemon(seeds, env=env) as daemon:
        wait_for(lambda: everywhere(daemon, {"Alpha, edited", "Charlie"}), what="the check")
        assert daemon.health()["checked"] is True
        # The newest articles (all three here) are read again for the first site's feeds:
        # b.txt is found gone and d.txt broken at once.
        assert daemon.logged(r"published 1 articles: 3 changed, 1 rejected \(from the cache")
        assert daemon.health()["rejected"] == 2
        assert len(daemon.logged(r"rejected d\.txt: only whitespace")) == 1
        assert len(daemon.logged(r"rejected broken\.txt: only whitespace")) == 1
        assert daemon.stop() == 0


def test_systemd_notify_protocol(seeds: Path, tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(10)
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
        with running_daemon(seeds, env=env) as daemon:
            messages = [sock.recv(4096).decode() for _ in range(4)]
            assert any(m.startswith("READY=1") for m in messages), messages
            assert sum(m == "WATCHDOG=1" for m in messages) >= 2, messages
            ready_at = next(i for i, m in enumerate(messages) if m.startswith("READY=1"))
            assert "STATUS=serving 2 articles" in messages[ready_at]
            assert daemon.stop() == 0
            rest = []
            while "STOPPING=1" not in rest:
                rest.append(sock.recv(4096).decode())


def test_slow_and_idle_connections_do_not_stop_a_reader(seeds: Path) -> None:
    with running_daemon(seeds) as daemon:
        hostile = []
        try:
            for i in range(300):
                sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
                if i % 2:  # slow loris: a request that never ends
                    sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                hostile.append(sock)
            for _ in range(20):
                assert daemon.get("/feed.atom").status == 200
        finally:
            for sock in hostile:
                sock.close()


def test_bad_settings_are_refused_at_startup_naming_key_and_value(seeds: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", "http"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "FEEDD_TIMEZONE": "UTC"},
    )
    assert result.returncode == 2
    assert "'port' has value 'http'" in result.stderr


def test_a_port_in_use_is_an_error_before_anything_is_read(seeds: Path) -> None:
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "published" not in result.stderr, "no update process was started"


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state [0], ppid [1], nice [16])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:  # gone
        return []


def _children(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _stat(entry.name)[1:2] == [str(pid)]
    ]


def _gone(pid: int) -> bool:
    return _stat(pid)[:1] in ([], ["Z"])


def test_files_inotify_drops_from_a_full_queue_are_published_all_the_same(
    seeds: Path, tmp_path: Path
) -> None:
    # inotify drops what overflows its queue, and says so (IN_Q_OVERFLOW). The update
    # process stopped takes nothing: a rename it will hear, enough opens to fill the queue, then
    # renames the queue drops.
    queue = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if queue > 100_000:
        pytest.skip(f"an inotify queue of {queue} events takes too long to fill")
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(21):
        (staging / f"late-{i:02}.txt").write_text(article(f"Late {i}"))
    with running_daemon(seeds, "--rescan-interval", "0") as daemon:
        (child,) = _children(daemon.process.pid)  # the update process, which watches
        os.kill(child, signal.SIGSTOP)
        try:
            os.rename(staging / "late-00.txt", seeds / "late-00.txt")
            # Two files in turn: inotify folds an event into the one before if they are alike.
            opened = (seeds / "a.txt", seeds / "b.txt")
            for i in range(queue + 100):
                os.close(os.open(opened[i % 2], os.O_RDONLY))
            for i in range(1, 21):
                os.rename(staging / f"late-{i:02}.txt", seeds / f"late-{i:02}.txt")
        finally:
            os.kill(child, signal.SIGCONT)
        expected = {"Alpha", "Bravo", *(f"Late {i}" for i in range(21))}
        wait_for(lambda: daemon.titles() >= expected, timeout=10, what="every late file")


class NotifySocket:
    """A datagram socket standing in for systemd's `$NOTIFY_SOCKET`."""

    def __init__(self, tmp_path: Path) -> None:
        self.address = str(tmp_path / "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.address)

    def next(self, timeout: float = 10.0) -> str | None:
        """The next message, or None after `timeout` seconds without one."""
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv(4096).decode()
        except TimeoutError:
            return None

    def until(self, prefix: str, timeout: float = 10.0) -> list[str]:
        """Messages up to and including the first that starts with `prefix`."""
        seen: list[str] = []
        while not seen or not seen[-1].startswith(prefix):
            message = self.next(timeout)
            assert message is not None, f"no {prefix} after {seen}"
            seen.append(message)
        return seen

    def close(self) -> None:
        self._sock.close()


def test_reloaded_is_said_once_the_new_settings_are_in_effect(seeds: Path, tmp_path: Path) -> None:
    config = tmp_path / "feedd.toml"
    config.write_text('title = "Before"\n')
    notify = NotifySocket(tmp_path)
    try:
        with running_daemon(
            seeds, "--config", str(config), env={"NOTIFY_SOCKET": notify.address}
        ) as daemon:
            notify.until("READY=1")
            for title in ("After", "Again"):
                config.write_text(f'title = "{title}"\n')
                daemon.signal(signal.SIGHUP)
                assert notify.until("RELOADING=1")[-1] == "RELOADING=1"
                notify.until("READY=1")
                assert daemon.feed().feed.title == title, "READY=1 came before the reload was done"
            config.write_text("max_entries = -1\n")
            daemon.signal(signal.SIGHUP)
            notify.until("RELOADING=1")
            notify.until("READY=1")  # a refused reload is done at once
            assert daemon.feed().feed.title == "Again"
            assert daemon.stop() == 0
    finally:
        notify.close()


def test_a_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "feedd", "serve", "--seeds", str(missing), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    # deploy/feedd.service lists 2 in RestartPreventExitStatus=: no restart for ever.
    assert result.returncode == 2
    assert f"{missing}: not a folder" in result.stderr


def test_a_cache_deleted_while_serving_never_makes_a_restart_publish_less(
    seeds: Path, tmp_path: Path
) -> None:
    """Deleted while feedd runs, the cache would hold only what was saved after: a restart
    that trusted it would serve, and a static copy keep, a gutted site until the check."""
    state, copy = tmp_path / "state", tmp_path / "public"
    for i in range(300):
        (seeds / f"n{i:03}.txt").write_text(article(f"Number {i}"))
    args = ("--state-dir", str(state), "--publish", str(copy))
    with running_daemon(seeds, *args) as daemon:
        assert daemon.health()["articles"] == 302
        for file in state.glob("articles-*.sqlite3*"):
            file.unlink()
        (seeds / "n000.txt").write_text(article("Number 0, edited"))
        wait_for(lambda: "Number 0, edited" in daemon.titles(), what="the edit")
        assert daemon.stop() == 0
    with running_daemon(seeds, *args) as daemon:
        first = next(line for line in daemon.log if "published" in line)
        assert "published 302 articles" in first, daemon.log
        assert daemon.health()["articles"] == 302
        whole = wait_for(lambda: daemon.logged("published the whole site to"), what="the copy")
        assert " 0 removed" in whole[0], whole
        wait_for(lambda: daemon.health()["checked"], what="the check")
        assert daemon.stop() == 0
    with running_daemon(seeds, *args) as daemon:  # written whole again: trusted again
        assert daemon.logged(r"published 302 articles: 302 changed, 0 rejected \(from the cache")


def test_an_edit_that_keeps_size_time_and_inode_is_published(seeds: Path) -> None:
    """`cp -p`, `rsync -t`, tar: the bytes change, the file's size, mtime and inode do not.
    Its event is reason enough to read it, and what was read is what is published, its page
    included (an older article's: not in the feeds)."""
    with running_daemon(seeds, "--max-entries", "1") as daemon:
        page = "/articles/a.html"
        assert b"Alpha" in daemon.get(page).body
        target = seeds / "a.txt"
        before = target.stat()
        text = target.read_text()
        with target.open("r+") as file:  # in place: the same inode
            file.write(text.replace("Alpha", "Omega", 1))
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = target.stat()
        assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
            before.st_size,
            before.st_mtime_ns,
            before.st_ino,
        )
        wait_for(lambda: b"Omega" in daemon.get(page).body, what="the page of the new text")


def test_updating_runs_in_a_child_behind_the_server_and_stops_with_it(seeds: Path) -> None:
    with running_daemon(seeds) as daemon:
        server = daemon.process.pid
        (child,) = _children(server)
        assert int(_stat(child)[16]) == int(_stat(server)[16]) + 10, "readers' requests go first"
        # What it builds on demand reaches readers through the server.
        index = daemon.get("/").body.decode()
        for kind in (r'articles/[^"]+\.html', r'sources/[^"]+\.atom'):
            link = re.search(f'href="({kind})"', index)
            assert link is not None and daemon.get("/" + link[1]).status == 200, kind
        (seeds / "new.txt").write_text(article("New one"))
        wait_for(lambda: "New one" in daemon.titles(), what="the new article")
        assert daemon.stop() == 0
        assert _gone(child), "the server waits for its update process"
        assert daemon.logged("stopping: finishing requests in flight")


def test_an_update_process_that_dies_stops_the_server_with_an_error(seeds: Path) -> None:
    with running_daemon(seeds) as daemon:
        (child,) = _children(daemon.process.pid)
        os.kill(child, signal.SIGKILL)
        assert daemon.process.wait(15) == 1, "systemd restarts a unit that fails"
        wait_for(lambda: daemon.logged("the update process ended; stopping"), what="the log")


def test_a_stuck_update_process_stops_the_watchdog_and_healthz_says_so(
    seeds: Path, tmp_path: Path
) -> None:
    notify = NotifySocket(tmp_path)
    env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "2000000"}
    try:
        with running_daemon(seeds, env=env) as daemon:
            notify.until("READY=1")
            (child,) = _children(daemon.process.pid)
            os.kill(child, signal.SIGSTOP)
            try:
                wait_for(lambda: daemon.get("/healthz").status == 503, what="a stalled health")
                assert daemon.health()["status"] == "stalled"
                assert daemon.get("/feed.atom").status == 200, "the last good site is served"
                while notify.next(timeout=0.01) is not None:
                    pass  # sent before the stall was seen
                # Pings come every second; none may come while the update process is stuck.
                assert notify.next(timeout=3) is None
            finally:
                os.kill(child, signal.SIGCONT)
            wait_for(lambda: daemon.health()["status"] == "ok", what="health back")
            assert notify.until("WATCHDOG=1")
            assert daemon.stop() == 0
    finally:
        notify.close()


def test_a_stop_ends_in_time_with_its_update_process_stuck(seeds: Path) -> None:
    # Within systemd's TimeoutStopSec=20, with room to spare, and exit status 0: a success.
    with running_daemon(seeds) as daemon:
        (child,) = _children(daemon.process.pid)
        os.kill(child, signal.SIGSTOP)
        try:
            assert daemon.stop(timeout=15) == 0
            assert _gone(child)
            assert daemon.logged("did not stop in time")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)  # a stopped process holds the log pipe open
