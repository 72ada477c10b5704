"""Serving: feedd's requests/s and p99 against the aiohttp floor and nginx, measured in one run.

    python tests/bench/bench_serving.py [--duration 10] [--rounds 1] [--burst 10000] [--help]
    python tests/bench/bench_serving.py --cases abc --duration 5   # the serving cases only

Needs wrk and nginx (Debian: `apt-get install -y wrk nginx`; without nginx its column is
skipped). Takes about 2.5 minutes with the defaults. Everything listens on 127.0.0.1; the
servers and the temporary folder are cleaned up on exit, Ctrl-C and SIGTERM.

`feedd serve` publishes a folder of 1,000 generated articles (~1.6 KB files; the Atom feed is
~110 KB with 50 entries). wrk -t2 -c64 --latency fetches /feed.atom from three servers in turn:

- feedd itself;
- the floor: a minimal aiohttp app (floor_server.py) answering the same bytes and headers from
  memory on uvloop, as feedd runs, the best any aiohttp handler can do; the same on asyncio's
  own loop shows what uvloop buys;
- nginx (one worker) serving the same bytes as a static file with gzip_static and ETags;

for (a) the plain feed, (b) Accept-Encoding: gzip, (c) a conditional GET answered 304
(If-None-Match with that server's ETag), the bulk of real feed-reader traffic. Ratios are
feedd/floor (target >= 0.9x in requests/s) and feedd/nginx, from runs seconds apart: steadier
than absolute numbers on a small, noisy machine. Each run also reports the server's CPU per
request (independent of how much CPU the server got) and "others": CPU used outside the
benchmark meanwhile. A run with others above ~10% was disturbed; `--rounds 2` keeps, per case,
the least disturbed round.

Then (d) p99 while `--burst` files land in the watched folder during a wrk run (target <= 3x
the idle p99 of (a), the median of its rounds), beside the floor under the same renames into a
folder nobody watches;
it swings between runs of the same code, so with `--rounds N` each round lands new files and
the median round is reported. And (e) the CPU a waiting daemon uses (target < 1% of a core).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FEED = "/feed.atom"
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
_HOP_HEADERS = {"date", "content-length", "connection", "keep-alive", "transfer-encoding"}
_TEXT = (
    "the minister said on tuesday that talks with the delegation would resume next week after "
    "officials from both sides met in the capital to discuss trade tariffs energy prices and "
    "the reopening of border crossings closed since the spring when protests spread across "
    "several provinces analysts expect a cautious agreement but warned that markets remain "
    "nervous as inflation climbs and the central bank weighs another increase in interest rates"
)
_WORDS = _TEXT.split()


# --- the folder ------------------------------------------------------------------------------


def article(i: int, day: str = "2021-01") -> str:
    """A realistic article: header, headline, ~1.5 KB of body in three paragraphs."""
    rng = random.Random(i)  # noqa: S311 (reproducible text, not secrets)
    paragraphs = []
    for _ in range(3):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(65, 80))]
        paragraphs.append(" ".join(words).capitalize() + ".")
    title = " ".join(rng.choice(_WORDS) for _ in range(8)).capitalize()
    return (
        f" date {day}-{1 + i % 28:02} Bench\nTitle {i}: {title}\n\n"
        + "\n\n".join(paragraphs)
        + "\n"
    )


def populate(folder: Path, count: int) -> None:
    for i in range(count):
        (folder / f"a{i:05}.txt").write_text(article(i))


# --- processes -------------------------------------------------------------------------------


class Server:
    """A subprocess whose stderr is drained by a thread (a full pipe would stall it)."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.log: deque[str] = deque(maxlen=200)
        self.port = 0
        self._listening = threading.Event()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C reaches only this script, which stops it
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line.rstrip())
            match = _LISTENING.search(line)
            if match and not self._listening.is_set():
                self.port = int(match.group(1))
                self._listening.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        """CPU seconds used so far by the server and the processes under it (nginx's worker,
        feedd's workers' fork server)."""
        return sum(cpu_seconds(pid) for pid in [self.pid, *descendants(self.pid)])

    def wait_listening(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.fail("did not start listening")
        return self.port

    def fail(self, what: str) -> None:
        tail = "\n".join(list(self.log)[-15:])
        raise RuntimeError(f"{self.name} {what} (exit {self.process.poll()}); its log:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state is [0], ppid [1])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:  # gone
        return []


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all its threads), in seconds."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS if fields else 0.0


def descendants(pid: int) -> list[int]:
    parents = {
        int(entry.name): _stat(entry.name)[1:2]
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
    }
    found, frontier = [], {str(pid)}
    while frontier:
        children = [p for p, up in parents.items() if up and up[0] in frontier]
        found += children
        frontier = {str(p) for p in children}
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """Header names are case-insensitive (aiohttp may send `Etag`)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def fetch(port: int, path: str = FEED, headers: dict[str, str] | None = None) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, dict(response.getheaders()), body)
    finally:
        connection.close()


def poll(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Seconds until `condition()` held; connection errors count as not yet."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def articles_published(port: int) -> int:
    reply = fetch(port, "/healthz")
    return int(json.loads(reply.body)["articles"]) if reply.status == 200 else -1


def served_headers(reply: Reply) -> dict[str, str]:
    return {k: v for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS}


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p99_ms: float
    errors: str = ""
    server_cpu: float = 0.0  # % of one core, over the run
    others_cpu: float = 0.0  # % of one core used by processes outside the benchmark
    cpu_us: float = 0.0  # the server's CPU time per request, in microseconds


@dataclass
class CpuClock:
    """CPU seconds so far: the machine's busy time, this script's with its finished children
    (wrk), and each server's."""

    at: float
    busy: float
    ours: float
    servers: list[float]

    @classmethod
    def now(cls, servers: list[Server]) -> CpuClock:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
        busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait (steal is apart)
        me, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        return cls(time.monotonic(), busy / _CLOCK_TICKS, ours, [s.cpu() for s in servers])

    def shares(self, later: CpuClock, target: int) -> tuple[float, float, float]:
        """% of a core used by servers[target] and by everything outside the benchmark, and
        the CPU seconds servers[target] used."""
        elapsed = later.at - self.at
        servers = [b - a for a, b in zip(self.servers, later.servers, strict=True)]
        others = (later.busy - self.busy) - (later.ours - self.ours) - sum(servers)
        return 100 * servers[target] / elapsed, max(0.0, 100 * others / elapsed), servers[target]


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(server: Server, servers: list[Server], headers: dict[str, str], duration: float) -> Result:
    """wrk -t2 -c64 against `server`; `servers` are all those running, whose CPU is ours."""
    argv = ["wrk", "-t2", "-c64", f"-d{duration:g}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://127.0.0.1:{server.port}{FEED}")
    before = CpuClock.now(servers)
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
        start_new_session=True,
    ).stdout
    server_cpu, others_cpu, seconds = before.shares(CpuClock.now(servers), servers.index(server))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if rps is None or p99 is None or count is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = [
        line.strip()
        for line in out.splitlines()
        if "Non-2xx" in line or ("Socket errors" in line and not line.strip().endswith("timeout 0"))
    ]
    p99_ms = float(p99.group(1)) * _UNITS_MS[p99.group(2)]
    cpu_us = 1e6 * seconds / max(1, int(count.group(1)))
    return Result(float(rps.group(1)), p99_ms, "; ".join(errors), server_cpu, others_cpu, cpu_us)


# --- nginx -----------------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ application/atom+xml atom; }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types application/atom+xml;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        etag on;
        gzip_static on;
        gzip_vary on;
        add_header Cache-Control "public, max-age=60";
        add_header Access-Control-Allow-Origin "*";
        add_header X-Content-Type-Options nosniff;
    }}
}}
"""


def start_nginx(folder: Path, body: bytes, gzipped: bytes) -> Server:
    www = folder / "www"
    (folder / "tmp").mkdir()
    www.mkdir()
    (www / "feed.atom").write_bytes(body)
    (www / "feed.atom.gz").write_bytes(gzipped)
    stat = (www / "feed.atom").stat()
    os.utime(www / "feed.atom.gz", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the private temp dir
    for _attempt in range(3):
        port = free_port()
        conf = folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(d=folder, port=port, user=user))
        argv = ["nginx", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
        server = Server("nginx", [*argv, "-g", "daemon off;"])
        server.port = port
        try:
            poll(lambda: fetch(port).status == 200, 10, "nginx")  # noqa: B023
            return server
        except RuntimeError:
            server.stop()
            if server.process.returncode not in (None, 0, 1):
                break
    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
    raise RuntimeError(f"nginx did not start:\n{log}")


# --- measurements ----------------------------------------------------------------------------


def idle_cpu(servers: list[Server], seconds: float) -> list[float]:
    """% of one core each server used while nobody talked to it."""
    before = CpuClock.now(servers)
    time.sleep(seconds)
    after = CpuClock.now(servers)
    return [before.shares(after, i)[0] for i in range(len(servers))]


@dataclass
class Burst:
    result: Result
    landed: float  # seconds the renames took
    published: float | None  # seconds from the first rename until all were served, if watched


def burst(
    server: Server,
    servers: list[Server],
    folder: Path,
    count: int,
    duration: float,
    published: Callable[[], bool] | None,
    round_: int = 0,
) -> Burst:
    """wrk against `server` while `count` articles land in `folder`, 2 s into the run (new
    names each `round_`).

    The files are written beforehand into a staging folder beside it and renamed into place one
    by one, as careful writers do: they land within a second and writing them does not compete
    with the server. With `published`, also times how long until `published()` holds."""
    staging = folder.parent / f".staging-{folder.name}"
    staging.mkdir()
    names = [f"burst{round_}-{i:05}.txt" for i in range(count)]
    for i, name in enumerate(names):
        (staging / name).write_text(article(i, day="2022-02"))  # newer: they enter the feed
    timings: dict[str, float] = {}

    def land() -> None:
        time.sleep(min(2, duration / 5))
        start = time.monotonic()
        for name in names:
            os.rename(staging / name, folder / name)
        timings["landed"] = time.monotonic() - start
        if published is not None:
            poll(published, 120, "the burst to be published", 0.1)
            timings["published"] = time.monotonic() - start

    lander = threading.Thread(target=land, daemon=True)
    lander.start()
    result = wrk(server, servers, {}, duration)
    lander.join(130)
    staging.rmdir()
    return Burst(result, timings.get("landed", float("nan")), timings.get("published"))


# --- report ----------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "never (waited 120 s)"


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def report_run(label: str, name: str, result: Result) -> None:
    note = f"  [{result.errors}]" if result.errors else ""
    print(
        f"  {label:<14} {name:<14} {result.rps:>7.0f} req/s  p99 {ms(result.p99_ms):>6} ms  "
        f"server CPU {result.server_cpu:>3.0f}% = {result.cpu_us:>3.0f} us/req  "
        f"others {result.others_cpu:>3.0f}%{note}",
        flush=True,
    )


# --- the run ---------------------------------------------------------------------------------


Case = tuple[str, Callable[[Server], dict[str, str]], int, str | None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=10000, help="files landing during (d)")
    parser.add_argument(
        "--burst-duration", type=float, default=20, help="seconds of the wrk runs in (d)"
    )
    parser.add_argument("--idle", type=float, default=10, help="seconds of idleness for (e)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each case this many times, keeping the round least disturbed by other load"
        " ((d): the median round)",
    )
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument(
        "--cases",
        default="abcde",
        help="which of (a) to (e) to run, as letters: `--cases abc` for the serving cases only",
    )
    args = parser.parse_args()
    if not args.cases or set(args.cases) - set("abcde"):
        parser.error("--cases takes letters from a to e")
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    use_nginx = not args.no_nginx and shutil.which("nginx") is not None
    if not use_nginx and not args.no_nginx:
        print("nginx not found (apt-get install -y nginx): its column is skipped", file=sys.stderr)

    # Ctrl-C raises KeyboardInterrupt; SIGTERM and SIGHUP unwind the same way, through the
    # `finally`s that stop the servers and the removal of the temporary folder.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _frame: sys.exit(128 + signum))
    started = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feedd-bench-")))
        seeds, floor_dir, nginx_dir, scratch = (tmp / n for n in ("seeds", "floor", "nginx", "w"))
        for folder in (seeds, floor_dir, nginx_dir, scratch):
            folder.mkdir()
        populate(seeds, args.articles)

        print(f"feedd serve on {args.articles} articles ...", flush=True)
        argv = [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", "0"]
        feedd = stack.enter_context(running(Server("feedd", argv)))
        port = feedd.wait_listening()
        try:
            poll(lambda: articles_published(port) == args.articles, 120, "feedd's first site")
        except RuntimeError as error:
            feedd.fail(str(error))

        # What feedd serves, copied for the floor and nginx.
        plain = fetch(port)
        packed = fetch(port, headers={"Accept-Encoding": "gzip"})
        plain_304 = fetch(port, headers={"If-None-Match": plain.header("ETag") or ""})
        packed_304 = fetch(
            port, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.header("ETag") or ""}
        )
        if (plain.status, packed.status, plain_304.status, packed_304.status) != (
            200,
            200,
            304,
            304,
        ):
            feedd.fail("does not answer /feed.atom with 200 and 304")
        assert packed.header("Content-Encoding") == "gzip"
        assert gzip.decompress(packed.body) == plain.body
        entries = plain.body.count(b"<entry>")
        (floor_dir / "feed.atom").write_bytes(plain.body)
        (floor_dir / "feed.atom.gz").write_bytes(packed.body)
        spec = {
            "path": FEED,
            "identity": {
                "body": str(floor_dir / "feed.atom"),
                "headers": served_headers(plain),
                "not_modified": served_headers(plain_304),
            },
            "gzip": {
                "body": str(floor_dir / "feed.atom.gz"),
                "headers": served_headers(packed),
                "not_modified": served_headers(packed_304),
            },
        }
        (floor_dir / "spec.json").write_text(json.dumps(spec))
        argv = [sys.executable, str(HERE / "floor_server.py"), str(floor_dir / "spec.json")]
        floor = stack.enter_context(running(Server("aiohttp floor", argv)))
        floor.wait_listening()
        poll(lambda: fetch(floor.port).status == 200, 10, "the floor server")
        plain_floor = stack.enter_context(running(Server("asyncio floor", [*argv, "--asyncio"])))
        plain_floor.wait_listening()

        feedd_idle = floor_idle = None
        if "e" in args.cases:
            print(f"(e) idle CPU over {args.idle:g} s ...", flush=True)
            time.sleep(1)  # let both settle after startup and the requests above
            feedd_idle, floor_idle = idle_cpu([feedd, floor], args.idle)
            print(
                f"  feedd {feedd_idle:.2f}%  aiohttp floor {floor_idle:.2f}% of a core", flush=True
            )

        servers = [feedd, floor, plain_floor]
        if use_nginx:
            servers.append(
                stack.enter_context(running(start_nginx(nginx_dir, plain.body, packed.body)))
            )
        etags = {server.name: fetch(server.port).header("ETag") or "" for server in servers}
        cases: list[Case] = [
            ("(a) full feed", lambda _server: {}, 200, None),
            ("(b) gzip", lambda _server: {"Accept-Encoding": "gzip"}, 200, "gzip"),
            ("(c) 304", lambda server: {"If-None-Match": etags[server.name]}, 304, None),
        ]
        # (d) compares with the idle p99 of (a): it runs (a) too.
        wanted = set(args.cases) | ({"a"} if "d" in args.cases else set())
        cases = [case for case in cases if case[0][1] in wanted]
        # Each server must answer each case as feedd does before it is timed.
        for label, headers, status, encoding in cases:
            body = b"" if status == 304 else plain.body if encoding is None else packed.body
            for server in servers:
                reply = fetch(server.port, headers=headers(server))
                got = (reply.status, reply.header("Content-Encoding"), reply.body)
                if got != (status, encoding, body):
                    raise RuntimeError(f"{server.name} answers {label} with {got[:2]}")

        print(
            f"feed: {len(plain.body) / 1024:.0f} KB, {entries} entries, gzip "
            f"{len(packed.body) / 1024:.0f} KB. wrk -t2 -c64 -d{args.duration:g}s, one server at "
            f"a time. On these {os.cpu_count()} cores wrk's threads share the CPU with the "
            "server, so absolute numbers are low and noisy: read the ratios. 'others' is CPU "
            "used outside the benchmark during the run: above ~10% that run was disturbed.",
            flush=True,
        )
        for server in servers:  # warm up: connections, caches, the allocator
            wrk(server, servers, {}, 2)
        results: dict[tuple[str, str], Result] = {}
        idle_p99s: dict[str, list[float]] = {server.name: [] for server in servers}
        for label, headers, _status, _encoding in cases:
            calmest = float("inf")
            for _round in range(args.rounds):
                runs = {}
                for server in servers:
                    runs[server.name] = wrk(server, servers, headers(server), args.duration)
                    report_run(label, server.name, runs[server.name])
                    if label.startswith("(a)"):
                        idle_p99s[server.name].append(runs[server.name].p99_ms)
                # Keep the round least disturbed by the rest of the machine.
                disturbance = max(run.others_cpu for run in runs.values())
                if disturbance < calmest:
                    calmest = disturbance
                    results.update({(label, name): run for name, run in runs.items()})

        # (d) swings between runs of the same code: with --rounds, the median.
        bursts: list[tuple[Burst, Burst]] = []
        if "d" in args.cases:
            for round_ in range(args.rounds):
                print(
                    f"(d) {args.burst} files landing {min(2, args.burst_duration / 5):g} s into "
                    f"a {args.burst_duration:g} s wrk run ...",
                    flush=True,
                )
                floor_burst = burst(
                    floor, servers, scratch, args.burst, args.burst_duration, None, round_
                )
                report_run("(d) burst", floor.name + "*", floor_burst.result)
                total = args.articles + args.burst * (round_ + 1)
                feedd_burst = burst(
                    feedd,
                    servers,
                    seeds,
                    args.burst,
                    args.burst_duration,
                    lambda total=total: articles_published(port) == total,
                    round_,
                )
                report_run("(d) burst", feedd.name, feedd_burst.result)
                bursts.append((feedd_burst, floor_burst))
                print(
                    f"  * the floor does not watch: the same renames, into another folder\n"
                    f"  feedd: renamed in {feedd_burst.landed:.2f} s, all {total} articles served "
                    f"{seconds(feedd_burst.published)} after the first rename",
                    flush=True,
                )
                if (feedd_burst.published or 0) > args.burst_duration * 0.8:
                    print(
                        "  note: publishing outlasted the wrk run; raise --burst-duration to "
                        "cover it"
                    )

    # --- the tables, in Markdown ---
    names = [server.name for server in servers]
    print(
        f"\nServing /feed.atom ({len(plain.body) / 1024:.0f} KB, {entries} entries, gzip "
        f"{len(packed.body) / 1024:.0f} KB) from {args.articles} articles: wrk -t2 -c64 "
        f"-d{args.duration:g}s on 127.0.0.1, {os.cpu_count()} cores shared by wrk and the "
        "server; the floor is a minimal aiohttp handler sending the same bytes and headers"
        + ("; nginx has one worker, gzip_static and ETags." if use_nginx else ".")
        + " The asyncio floor is the same handler on asyncio's own loop instead of uvloop.\n"
    )
    head = "| case | feedd req/s | floor req/s | **feedd/floor** (target >= 0.9x) |"
    head += " asyncio floor req/s | uvloop's gain |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if use_nginx:
        head += " nginx req/s | feedd/nginx |"
        rule += "---:|---:|"
    head += " p99 ms: " + " / ".join(n.removeprefix("aiohttp ") for n in names)
    head += " | CPU us/req: feedd / floor (floor/feedd) | others' CPU, max |"
    rule += "---:|---:|---:|"
    print(head)
    print(rule)
    for label, *_ in cases:
        f, b = results[label, "feedd"], results[label, "aiohttp floor"]
        row = f"| {label} | {f.rps:.0f} | {b.rps:.0f} | **{ratio(f.rps, b.rps)}** |"
        a = results[label, "asyncio floor"]
        row += f" {a.rps:.0f} | {ratio(b.rps, a.rps)} |"
        if use_nginx:
            n = results[label, "nginx"]
            row += f" {n.rps:.0f} | {ratio(f.rps, n.rps)} |"
        p99s = " / ".join(ms(results[label, name].p99_ms) for name in names)
        others = max(results[label, name].others_cpu for name in names)
        cpu = f"{f.cpu_us:.0f} / {b.cpu_us:.0f} ({ratio(b.cpu_us, f.cpu_us)})"
        print(row + f" {p99s} | {cpu} | {others:.0f}% |")

    if not bursts and feedd_idle is None:
        print(f"\nwhole run: {time.monotonic() - started:.0f} s")
        return 0
    print("\n| measure | feedd | floor | target |")
    print("|---|---:|---:|---|")
    if bursts:
        # The idle p99 swings between rounds too: its median.
        idle_p99 = {name: statistics.median(idle_p99s[name]) for name in names}
        ordered = sorted(bursts, key=lambda pair: pair[0].result.p99_ms)
        feedd_burst, floor_burst = ordered[(len(ordered) - 1) // 2]  # the median (the lower)
        f, b = feedd_burst.result, floor_burst.result
        which = f"median of {len(bursts)} rounds, " if len(bursts) > 1 else ""
        every = ", ".join(ratio(p.result.p99_ms, idle_p99["feedd"]) for p, _ in bursts)
        print(
            f"| (d) p99 while {args.burst} files land, ms ({which}each round: {every}) | "
            f"{ms(f.p99_ms)} = **{ratio(f.p99_ms, idle_p99['feedd'])}** the idle p99 (a), "
            f"{ms(idle_p99['feedd'])}, median of its rounds | "
            f"{ms(b.p99_ms)} = {ratio(b.p99_ms, idle_p99['aiohttp floor'])} idle | "
            "feedd <= 3x its idle p99 |"
        )
        print(f"| (d) req/s during that burst run | {f.rps:.0f} | {b.rps:.0f} | |")
        print(
            f"| (d) that burst fully published after | {seconds(feedd_burst.published)} | "
            "(not watching) | |"
        )
    if feedd_idle is not None and floor_idle is not None:
        print(
            f"| (e) idle CPU over {args.idle:g} s, % of a core | **{feedd_idle:.2f}%** | "
            f"{floor_idle:.2f}% | feedd < 1% |"
        )
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
