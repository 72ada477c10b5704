"""File to feed: from a new article file's close to the new feed being served.

    python tests/bench/bench_latency.py [--articles 1000] [--drops 50]

A client polls /feed.atom with If-None-Match over one keep-alive connection, as a feed reader
would, until the answer is 200 with the new article. The baseline, measured in the same run on
the same folder, is raw inotify delivery of the same kind of event (a file closed after
writing): the floor any watcher-based publisher sits on.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008


# The body of the original article (about 2 KB), so documents have their real size.
BODY = (
    (Path(__file__).parents[2] / "seeds" / "000_1a328842afac22b4.txt")
    .read_text()
    .split("\n\n", 3)[3]
)


def body(i: int) -> str:
    """The original body with each paragraph's words shuffled: articles of the real size that
    differ from each other, as real ones do (identical bodies would gzip unrealistically well,
    hiding what compressing a feed costs)."""
    rng = random.Random(i)  # noqa: S311 (reproducible text, not secrets)
    paragraphs = []
    for paragraph in BODY.split("\n\n"):
        words = paragraph.split()
        rng.shuffle(words)
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs)


def article(i: int) -> str:
    return f" date 2021-01-{1 + i % 28:02} Bench\nArticle number {i}\n\nBy Bench Writer 1 hour ago Sat 02nd January 2021 | 11:00 AM\n\n{body(i)}"


def populate(folder: Path, count: int) -> None:
    for i in range(count):
        sub = folder / f"d{i // 1000:03}"
        sub.mkdir(exist_ok=True)
        (sub / f"a{i}.txt").write_text(article(i))
    # On disk before anything is timed: the kernel writes 180 MB of new files back about 30 s
    # later, in the middle of the drops, which cost the 100,000 run's p99 up to 90 ms.
    os.sync()


def inotify_baseline(folder: Path, drops: int) -> list[float]:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0 or libc.inotify_add_watch(fd, str(folder).encode(), IN_CLOSE_WRITE) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    samples = []
    try:
        for i in range(drops):
            with (folder / f"baseline-{i}.txt").open("w") as file:
                file.write(article(i))
            closed = time.perf_counter()
            os.read(fd, 4096)
            samples.append(time.perf_counter() - closed)
    finally:
        os.close(fd)
    for i in range(drops):
        (folder / f"baseline-{i}.txt").unlink()
    return samples


def start_daemon(
    folder: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int, threading.Event]:
    """The daemon, its port, and an event set once its watcher is in place."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feedd",
            "serve",
            "--seeds",
            str(folder),
            "--port",
            "0",
            "--max-entries",
            "50",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    listening: list[int] = []
    heard = threading.Event()
    watching = threading.Event()
    threading.Thread(target=_drain, args=(process, listening, heard, watching), daemon=True).start()
    heard.wait()
    if not listening:
        raise RuntimeError("feedd serve did not start")
    return process, listening[0], watching


def _drain(
    process: subprocess.Popen[str],
    listening: list[int],
    heard: threading.Event,
    watching: threading.Event,
) -> None:
    """Read the log (a full pipe would stall the daemon) for the server's port and the
    watcher's line, which may come in either order."""
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if match:
            listening.append(int(match.group(1)))
            heard.set()
        if "for changes" in line:
            watching.set()
    heard.set()  # it ended without listening


def wait_until_published(port: int, count: int, timeout: float = 600) -> float:
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        try:
            connection.request("GET", "/healthz")
            body = connection.getresponse().read().decode()
            if f'"articles": {count},' in body:
                return time.perf_counter() - started
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.01)
    raise RuntimeError("the daemon never published every article")


def wait_until_settled(watching: threading.Event, folder: Path, port: int) -> None:
    """Until the watcher's watches are in place and the rescan it then asks for is done (the
    first scan ran before the watches were): a steady state, which is what is measured. One
    file dropped after that and served shows the rescan is behind it."""
    if not watching.wait(600):
        raise RuntimeError("the daemon never watched the folder")
    (folder / "warm-up.txt").write_text(" date 2030-01-01 Bench\nWarm-up article\n\nText.\n")
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        try:
            connection.request("GET", "/feed.atom")
            if b"Warm-up article" in connection.getresponse().read():
                return
        finally:
            connection.close()
        time.sleep(0.01)
    raise RuntimeError("the daemon never settled")


def feed_latencies(folder: Path, port: int, drops: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/feed.atom")
    response = connection.getresponse()
    response.read()
    etag = response.getheader("ETag")
    samples = []
    for i in range(drops):
        title = f"Dropped article {i}".encode()
        with (folder / f"drop-{i}.txt").open("w") as file:
            file.write(f" date 2030-01-01 Bench\nDropped article {i}\n\n{body(-1 - i)}")
        closed = time.perf_counter()
        while True:
            connection.request("GET", "/feed.atom", headers={"If-None-Match": etag})
            response = connection.getresponse()
            answer = response.read()
            if response.status == 200:
                etag = response.getheader("ETag")
                if title in answer:
                    samples.append(time.perf_counter() - closed)
                    break
        time.sleep(0.05)  # let the daemon settle: each drop is measured on its own
    connection.close()
    return samples


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[1000])
    parser.add_argument("--drops", type=int, default=50)
    args = parser.parse_args()
    print(f"{'articles':>9} {'what':<26} {'p50 ms':>8} {'p99 ms':>8} {'ratio p50':>10}")
    for count in args.articles:
        folder = Path(tempfile.mkdtemp(prefix="feedd-bench-"))
        try:
            populate(folder, count)
            baseline = inotify_baseline(folder, args.drops)
            process, port, watching = start_daemon(folder)
            try:
                startup = wait_until_published(port, count)
                wait_until_settled(watching, folder, port)
                feed = feed_latencies(folder, port, args.drops)
            finally:
                process.terminate()
                process.wait(30)
            base50, feed50 = statistics.median(baseline), statistics.median(feed)
            print(
                f"{count:>9} {'raw inotify (baseline)':<26} {base50 * 1e3:>8.3f} {percentile(baseline, 99) * 1e3:>8.3f} {1.0:>10.1f}"
            )
            print(
                f"{count:>9} {'feedd file -> feed':<26} {feed50 * 1e3:>8.3f} {percentile(feed, 99) * 1e3:>8.3f} {feed50 / base50:>10.1f}"
            )
            print(f"{count:>9} {'(cold start, s)':<26} {startup:>8.2f}")
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
