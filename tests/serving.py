"""Run the real `feedd serve` in a subprocess on a free loopback port, and wait on conditions."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import feedparser
import pytest

T = TypeVar("T")
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    port: int = 0
    log: list[str] = field(default_factory=list)

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            body = response.read()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            connection.close()

    def feed(self, path: str = "/feed.atom") -> feedparser.FeedParserDict:
        response = self.get(path)
        assert response.status == 200, response
        parsed = feedparser.parse(response.body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        return parsed

    def titles(self, path: str = "/feed.atom") -> set[str]:
        return {entry.title for entry in self.feed(path).entries}

    def health(self) -> dict[str, object]:
        import json

        return json.loads(self.get("/healthz").body)  # type: ignore[no-any-return]

    def logged(self, pattern: str) -> list[str]:
        return [line for line in list(self.log) if re.search(pattern, line)]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextmanager
def running_daemon(
    seeds: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    prefix: tuple[str, ...] = (),
) -> Iterator[Daemon]:
    """`feedd serve` on `seeds`, once it is listening, has published its first site and
    watches the folder; run under a command `prefix` if given (fewer capabilities, a user
    namespace of its own)."""
    command = [sys.executable, "-m", "feedd", "serve", "--seeds", str(seeds), "--port", "0"]
    process = subprocess.Popen(
        [*prefix, *command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    daemon = Daemon(process)
    assert process.stderr is not None
    stream = process.stderr

    def collect() -> None:
        for line in stream:
            daemon.log.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        match = wait_for(
            lambda: (
                next(filter(None, map(_LISTENING.search, list(daemon.log))), None)
                or (process.poll() is not None and _fail(daemon))
            ),
            timeout,
            "the daemon to listen",
        )
        daemon.port = int(match.group(1))
        wait_for(lambda: daemon.get("/healthz").status == 200, timeout, "the first site")
        # The watches are set up once the first site is out: what a test changes before they
        # are in place is still published (their setup rescans), but not as an event.
        wait_for(lambda: daemon.logged(_WATCHING), timeout, "the watches")
        yield daemon
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- feedd serve log ---\n{''.join(daemon.log)}") from None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        reader.join(10)
        stream.close()


_WATCHING = "for changes|waiting for it to come back|falling back to polling|watcher failed"


def _fail(daemon: Daemon) -> None:
    raise AssertionError("feedd serve exited early:\n" + "".join(daemon.log))


def article(
    title: str, body: str = "Body paragraph.", day: str = "2021-01-02", source: str = "Wire"
) -> str:
    return f" date {day} {source}\n{title}\n\nBody first line. {body}\n"


def without_file_permission_bypass() -> tuple[str, ...]:
    """A command prefix under which chmod 000 denies reading, even when the tests run as
    root: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped. Skips where that cannot be."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing to drop CAP_DAC_*")
    caps = "-dac_override,-dac_read_search"
    prefix = (setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}")
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def inotify_limits(watches: int, instances: int) -> tuple[str, ...]:
    """A command prefix: run in a user namespace of its own whose inotify limits are `watches`
    and `instances` (0 instances: nothing can be watched, and feedd polls). Skips the test
    where unshare cannot do that."""
    script = (
        'echo "$1" > /proc/sys/user/max_inotify_watches'
        ' && echo "$2" > /proc/sys/user/max_inotify_instances && shift 2 && exec "$@"'
    )
    prefix = ("unshare", "--user", "--map-root-user", "--", "sh", "-c", script, "sh")
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("unshare and nsenter (util-linux) are needed for inotify limits")
    probe = subprocess.run([*prefix, "1", "1", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot set inotify limits in a user namespace: {probe.stderr!r}")
    return (*prefix, str(watches), str(instances))
