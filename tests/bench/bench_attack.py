"""Under attack: a normal reader's latency, idle and while feedd is attacked, and its memory.

    python tests/bench/bench_attack.py [--duration 8] [--only NAME ...] [--feedd-root DIR]

About 3 minutes with the defaults. `feedd serve` (its default settings) publishes 1,000
generated articles (the Atom feed is ~110 KB) and one article whose page is larger than the
kernel will buffer for a client. A normal reader fetches /feed.atom with gzip over a new
connection every 20 ms and records each answer's latency; it must be a 200 with the whole feed
(anything else counts as a failure). First idle, then during each attack in turn, run from a
separate process so that the attacker's work does not share this process's GIL:

- idle: 1,000 keep-alive connections that made one request each and then say nothing;
- flood: 2,000 connections held open (each holds a file descriptor; `LimitNOFILE=` bounds them);
- loris: 1,000 slow lorises, each sending its request head a byte a second;
- stuffing: 500 connections each sending 1 MiB of a request head that never ends;
- stalled: 100 clients that ask for the large page and never read it;
- junk: a loop of malformed requests (smuggling framings, TLS and garbage), as fast as it can.

For each: the reader's p50 and p99 beside the idle ones (and the ratio), its failures, feedd's
resident memory before, at most during, and after the attack; then how long feedd took to drop
the attacker's connections while the attacker still held them (idle ones after
keepalive_timeout, stalled ones after send_timeout: 15 and 60 s by default).

`--feedd-root DIR` runs the feedd in another checkout (say, a `git worktree` of an older
commit) to compare before and after a change.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
_TEXT = (
    "the minister said on tuesday that talks with the delegation would resume next week after "
    "officials from both sides met in the capital to discuss trade tariffs energy prices"
)
_WORDS = _TEXT.split()
_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8
MiB = 1024 * 1024


# --- the folder and the server ---------------------------------------------------------------


def populate(folder: Path) -> None:
    for i in range(1000):
        rng = random.Random(i)  # noqa: S311 (reproducible text, not secrets)
        body = "\n\n".join(
            " ".join(rng.choice(_WORDS) for _ in range(70)).capitalize() + "." for _ in range(3)
        )
        (folder / f"a{i:04}.txt").write_text(
            f" date 2021-01-{1 + i % 28:02} Bench\nTitle {i}\n\n{body}\n"
        )
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    paragraph = "All work and no play makes a very long page. " * 20
    count = (wmem + 4 * MiB) // len(paragraph) + 1
    (folder / "large.txt").write_text(
        " date 2020-01-01 Bench\nLarge\n\n" + "\n\n".join([paragraph] * count) + "\n"
    )


@contextmanager
def feedd(folder: Path, root: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "feedd", "serve", "--seeds", str(folder), "--port", "0"),
            *("--max-article-bytes", str(64 * MiB), "--no-cache"),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    log: list[str] = []
    port = threading.Event()
    found: list[int] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            if (match := _LISTENING.search(line)) and not found:
                found.append(int(match.group(1)))
                port.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not port.wait(60):
            raise RuntimeError("feedd did not start:\n" + "".join(log[-20:]))
        deadline = time.monotonic() + 120
        while fetch(found[0], "/healthz")[0] != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("feedd did not publish:\n" + "".join(log[-20:]))
            time.sleep(0.1)
        fetch(found[0], "/articles/large.html")  # built once, before anything is measured
        yield process, found[0]
    finally:
        process.terminate()
        process.wait(30)
        tracebacks = sum("Traceback" in line for line in log)
        print(f"\nfeedd's log: {len(log)} lines, {tracebacks} tracebacks")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fetch(port: int, path: str, gzip: bool = False) -> tuple[int, bytes]:
    """One GET over a new connection, read to the end of its body."""
    head = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
    head += "Accept-Encoding: gzip\r\n\r\n" if gzip else "\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.encode())
            data = b""
            while chunk := sock.recv(1 << 20):
                data += chunk
    except OSError:
        return 0, b""
    top, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(top.split()[1]), body
    except (IndexError, ValueError):
        return 0, b""


# --- the normal reader -----------------------------------------------------------------------


def read_for(
    port: int, seconds: float, expected: bytes, rss: Callable[[], None], failures: list[str]
) -> list[float]:
    """Latencies (ms) of a reader fetching the feed every 20 ms; failures are NaN, and what
    they were goes to `failures` (status 0: no answer)."""
    samples: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        status, body = fetch(port, "/feed.atom", gzip=True)
        took = (time.perf_counter() - started) * 1000
        if status == 200 and body == expected:
            samples.append(took)
        else:
            samples.append(float("nan"))
            failures.append(f"{status} after {took:.0f} ms")
        rss()
        time.sleep(max(0.0, 0.02 - took / 1000))
    return samples


def percentiles(samples: list[float]) -> tuple[float, float, int]:
    good = sorted(s for s in samples if s == s)
    failures = len(samples) - len(good)
    if len(good) < 2:
        return float("nan"), float("nan"), failures
    cuts = statistics.quantiles(good, n=100, method="inclusive")
    return cuts[49], cuts[98], failures


# --- the attacks (each in a process of its own) ----------------------------------------------

JUNK = [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 2,
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"hello world\r\n\r\n",
]


def attack(name: str, port: int, control: Connection) -> None:
    """Run attack `name` until told to stop sending, then hold the sockets and report how many
    feedd has dropped, until told to quit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    socks: list[socket.socket] = []
    sent = 0

    def connect(receive_buffer: int | None = None) -> socket.socket:
        sock = socket.socket()
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect(("127.0.0.1", port))
        socks.append(sock)
        return sock

    loris = b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 1000
    stuffing = b"GET /feed.atom HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%03d: " % i + b"v" * 8000 + b"\r\n" for i in range(127)
    )
    if name == "idle":
        for _ in range(1000):
            connect().sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for sock in socks:
            sock.recv(65536)
    elif name == "flood":
        for _ in range(2000):
            connect()
    elif name == "loris":
        for _ in range(1000):
            connect()
    elif name == "stuffing":
        for _ in range(500):  # all but the last 100 bytes at once, then a byte a second
            with contextlib.suppress(OSError):
                connect().sendall(stuffing[:-100])
        sent = len(stuffing) - 100
    elif name == "stalled":
        for _ in range(100):
            connect(4096).sendall(b"GET /articles/large.html HTTP/1.1\r\nHost: x\r\n\r\n")
    for sock in socks:
        sock.setblocking(False)
    control.send("ready")
    sending, tick = True, time.monotonic()
    while True:
        if control.poll(0.01 if name == "junk" and sending else 0.2):
            command = control.recv()
            if command == "quit":
                break
            if command == "hold":
                sending = False
            if command == "status":
                control.send((sum(map(_dropped, socks)), len(socks)))
        if not sending:
            continue
        if name == "junk":
            for request in JUNK:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
                ):
                    sock.sendall(request)
                    while sock.recv(65536):
                        pass
        elif name in ("loris", "stuffing") and time.monotonic() - tick >= 1:
            tick = time.monotonic()
            payload = (loris if name == "loris" else stuffing)[sent : sent + 1]
            sent += 1
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(payload)
    for sock in socks:
        sock.close()


def _dropped(sock: socket.socket) -> bool:
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return True
    return state in (_TCP_CLOSE, _TCP_CLOSE_WAIT)


ATTACKS = {
    "idle": "1,000 idle keep-alive connections",
    "flood": "2,000 connections held open",
    "loris": "1,000 slow lorises, a byte a second",
    "stuffing": "500 unfinished request heads of 1 MiB",
    "stalled": "100 clients never reading a large page",
    "junk": "malformed requests, back to back",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8, help="seconds measured per phase")
    parser.add_argument("--only", nargs="+", choices=ATTACKS, help="run only these attacks")
    parser.add_argument("--feedd-root", type=Path, default=ROOT, help="the feedd checkout to run")
    parser.add_argument(
        "--drop-wait", type=float, default=75, help="most seconds to wait for feedd to drop them"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="feedd-attack-"))
    rows = []
    try:
        populate(folder)
        with feedd(folder, args.feedd_root) as (process, port):
            pid = process.pid
            expected = fetch(port, "/feed.atom", gzip=True)[1]
            base_rss = resident_mb(pid)
            idle = read_for(port, args.duration, expected, lambda: None, [])
            idle_p50, idle_p99, idle_failed = percentiles(idle)
            print(f"idle reader: p50 {idle_p50:.1f} ms, p99 {idle_p99:.1f} ms, {len(idle)} fetches")
            for name in args.only or ATTACKS:
                rows.append(run_attack(name, port, pid, expected, args, base_rss))
                base_rss = resident_mb(pid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print(
        f"{'attack':<48} {'p50 ms':>7} {'x idle':>6} {'p99 ms':>7} {'x idle':>6} {'failed':>7}"
        f" {'RSS MB before/during/after':>27}  dropped by feedd"
    )
    print(
        f"{'(none)':<48} {idle_p50:>7.1f} {1:>6.2f} {idle_p99:>7.1f} {1:>6.2f} "
        f"{idle_failed:>3}/{len(idle):<3}"
    )
    for name, p50, p99, failed, count, before, during, after, dropped in rows:
        print(
            f"{ATTACKS[name]:<48} {p50:>7.1f} {p50 / idle_p50:>6.2f} {p99:>7.1f} "
            f"{p99 / idle_p99:>6.2f} {failed:>3}/{count:<3} "
            f"{before:>8.0f} /{during:>6.0f} /{after:>6.0f}  {dropped}"
        )


def run_attack(
    name: str, port: int, pid: int, expected: bytes, args: argparse.Namespace, before: float
) -> tuple[str, float, float, int, int, float, float, float, str]:
    control, theirs = multiprocessing.Pipe()
    attacker = multiprocessing.Process(target=attack, args=(name, port, theirs), daemon=True)
    attacker.start()
    try:
        if not control.poll(120):
            raise RuntimeError(f"attack {name} did not start")
        control.recv()
        peak = [resident_mb(pid)]
        failures: list[str] = []
        samples = read_for(
            port,
            args.duration,
            expected,
            lambda: peak.append(max(peak[-1], resident_mb(pid))),
            failures,
        )
        p50, p99, failed = percentiles(samples)
        control.send("hold")  # stop sending, keep the sockets: does feedd let go of them?
        started = time.monotonic()
        dropped = "n/a (one-shot connections)"
        while name != "junk":
            control.send("status")
            gone, held = control.recv()
            waited = time.monotonic() - started
            if gone == held or waited > args.drop_wait:
                dropped = f"{gone}/{held} after {waited:.0f} s"
                break
            peak.append(max(peak[-1], resident_mb(pid)))
            time.sleep(0.5)
        after = resident_mb(pid)
        print(f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed; dropped {dropped}")
        if failures:
            print(f"  reader failures: {', '.join(failures[:10])}")
        return name, p50, p99, failed, len(samples), before, max(peak), after, dropped
    finally:
        control.send("quit")
        attacker.join(30)
        if attacker.is_alive():
            attacker.kill()


if __name__ == "__main__":
    main()
