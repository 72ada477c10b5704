"""Cold start, warm restart and memory of `feedd serve` on a large folder.

    python tests/bench/bench_startup.py [--articles 100000] [--rounds 3]

Baseline, measured in the same run on the same files: one Python process that only reads every
file and splits it into lines (the floor any parser sits on). Cold start is `feedd serve` with
an empty cache until /healthz reports every article; warm restart is the same again with
nothing changed (the cache publishes every article, then the folder is walked, a `stat` per
file, until /healthz says it is checked). Memory is the daemon's once everything is published,
and after the feeds and 1,000 article pages have been served: the proportional set size (PSS:
a page shared by several processes counted once, in shares) of its whole process tree (the
server and the workers' fork server), and the resident sets of the
server and of the processes under it.

In rounds of floor, cold start and warm restart, one after the other: each start is set
against the floor of its own round, and the median ratio is the figure (the floor alone moved
by a third between runs of one hour).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench_latency import populate, start_daemon
from bench_serving import descendants

FLOOR = """
import os, sys
count = 0
for folder, _, names in os.walk(sys.argv[1]):
    for name in names:
        with open(os.path.join(folder, name), "rb") as file:
            count += len(file.read().decode("utf-8").splitlines())
print(count)
"""


def floor_seconds(folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR, str(folder)], check=True, capture_output=True)
    return time.perf_counter() - started


def get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        return connection.getresponse().read()
    finally:
        connection.close()


def serve_until_published(
    folder: Path, count: int, env: dict[str, str]
) -> tuple[float, float, Memory, Memory]:
    """Seconds from launch until every article is published and until what is published is
    checked against the folder (a restart publishes the cache first, then walks the folder),
    and the resident set (kB) then and after serving the feeds and 1,000 pages."""
    started = time.perf_counter()
    process, port, _ = start_daemon(folder, env)
    try:
        elapsed = None
        while True:
            try:
                health = json.loads(get(port, "/healthz"))
            except (OSError, ValueError):
                health = {}
            if health.get("articles") == count and elapsed is None:
                elapsed = time.perf_counter() - started
                published_memory = Memory.of(process.pid)
            if elapsed is not None and health.get("checked"):
                break
            time.sleep(0.01)
        checked = time.perf_counter() - started
        for path in ("/", "/feed.atom", "/feed.rss", "/feed.json"):
            get(port, path)
        for i in range(0, count, max(1, count // 1000)):
            get(port, f"/articles/d{i // 1000:03}/a{i}.html")
        return elapsed, checked, published_memory, Memory.of(process.pid)
    finally:
        process.terminate()
        process.wait(60)


class Memory(NamedTuple):
    """kB: the whole tree's PSS; the server's resident set, and its other processes' (the
    workers' fork server)."""

    tree_pss: int
    server_rss: int
    others_rss: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        others = descendants(pid)
        return cls(
            sum(field_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in [pid, *others]),
            field_kb(f"/proc/{pid}/status", "VmRSS:"),
            sum(field_kb(f"/proc/{p}/status", "VmRSS:") for p in others),
        )

    def __str__(self) -> str:
        return (
            f"{self.tree_pss / 1024:.0f} MB (resident: the server {self.server_rss / 1024:.0f} MB, "
            f"the processes under it {self.others_rss / 1024:.0f} MB)"
        )


def field_kb(path: str, name: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except OSError:  # gone meanwhile
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of floor, cold start and warm restart, one after the other (default 3): "
        "the floor alone moved by a third between runs, so each start is set against the "
        "floor of its own round, and the median ratio is the figure",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="feedd-bench-"))
    state = Path(tempfile.mkdtemp(prefix="feedd-bench-state-"))
    env = {"FEEDD_STATE_DIR": str(state)}
    try:
        print(f"writing {args.articles} articles of about 1.8 KB ...", file=sys.stderr)
        populate(folder, args.articles)
        floor_seconds(folder)  # once to warm the page cache, as the daemon will find it
        rows: dict[str, list[float]] = {"floor": [], "cold": [], "warm": [], "checked": []}
        for _ in range(args.rounds):
            shutil.rmtree(state)  # a cold start: no cache
            state.mkdir()
            rows["floor"].append(floor_seconds(folder))
            cold, _, cold_memory, _ = serve_until_published(folder, args.articles, env)
            warm, checked, warm_memory, served = serve_until_published(folder, args.articles, env)
            rows["cold"].append(cold)
            rows["warm"].append(warm)
            rows["checked"].append(checked)
        labels = {
            "floor": "floor: read + split every file, 1 process",
            "cold": "cold start (empty cache) to all published",
            "warm": "warm restart (nothing changed)",
            "checked": "  ... and checked against the folder",
        }
        print(f"{'what':<44} {'seconds (x its round floor), by round':<40} {'median x':>8}")
        for key, label in labels.items():
            ratios = [s / f for s, f in zip(rows[key], rows["floor"], strict=True)]
            cells = "  ".join(
                f"{s:5.2f} ({r:4.2f})" for s, r in zip(rows[key], ratios, strict=True)
            )
            print(f"{label:<44} {cells:<40} {statistics.median(ratios):>8.2f}")
        print(f"memory (PSS of every process) after a cold start: {cold_memory}")
        print(f"memory after a warm one:                         {warm_memory}")
        print(f"memory after serving 1,000 pages:                {served}")
        print("(memory: the last round's)")
    finally:
        shutil.rmtree(folder)
        shutil.rmtree(state)


if __name__ == "__main__":
    main()
