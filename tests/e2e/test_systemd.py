"""deploy/feedd.service under a real systemd: PID 1 of a `systemd-nspawn` container booted from
an overlay of this machine's own / (writes go to a tmpfs), with feedd installed as
docs/deployment.md says, then driven with systemctl and read over HTTP from inside.

Needs root, systemd-nspawn (Debian's `systemd-container`; .ci/run installs it), util-linux's
unshare and nsenter, /usr/bin/python3 (the venv's Python must be outside /root and /home,
which the unit hides) and the hybrid cgroup layout (/sys/fs/cgroup/unified and the named
/sys/fs/cgroup/systemd hierarchy). The container is booted once for the module and the tests
run in file order on it; the `feedd` fixture starts the service again where a test before
left it stopped or failed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import feedparser
import pytest
from helpers import PROJECT, article, wait_for

T = TypeVar("T")

UNIT = PROJECT / "deploy" / "feedd.service"
SETTINGS = PROJECT / "deploy" / "feedd.toml"
CGROUPS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/systemd"))
NSENTER = shutil.which("nsenter")
UNSHARE = shutil.which("unshare")
NSPAWN = shutil.which("systemd-nspawn")
# The unit says 30 s; a drop-in shortens it so that a watchdog restart takes seconds.
WATCHDOG_SEC = 4
SEEDS = "/srv/feedd/seeds"
FEED = "http://127.0.0.1:8080/feed.atom"
HEALTH = "http://127.0.0.1:8080/healthz"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root (cgroups, mounts and systemd-nspawn)"
    if NSPAWN is None:
        return "systemd-nspawn is not installed (Debian's systemd-container; .ci/run installs it)"
    if NSENTER is None or UNSHARE is None:
        return "util-linux's unshare and nsenter are needed"
    if not os.access("/usr/bin/python3", os.X_OK):
        return "no /usr/bin/python3 to make the venv with (a Python under /root fails: ProtectHome)"
    if not all((hierarchy / "cgroup.procs").exists() for hierarchy in CGROUPS):
        return "needs the hybrid cgroup layout (/sys/fs/cgroup/unified and /sys/fs/cgroup/systemd)"
    return None


pytestmark = [
    pytest.mark.skipif(_cannot_run() is not None, reason=_cannot_run() or ""),
    # The first test also waits for the install (a pip install) and the boot.
    pytest.mark.timeout(300),
]

# Runs in a mount namespace of its own, in the cgroups given, and ends as systemd-nspawn: an
# overlay of / whose upper layer is a tmpfs, so nothing reaches the host's file system. It
# stops after mounting for the test to lay out the unit, the settings and the articles.
LAUNCH = r"""
set -eu
name=$1 mnt=$2
for hierarchy in unified systemd; do echo $$ > "/sys/fs/cgroup/$hierarchy/$name/cgroup.procs"; done
mount --make-rprivate /
mount -t tmpfs -o mode=0755 feedd-test "$mnt"
mkdir "$mnt/upper" "$mnt/work" "$mnt/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$mnt/upper,workdir=$mnt/work" "$mnt/root"
root=$mnt/root
echo mounted
read -r go
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
chroot "$root" /usr/bin/python3 -m venv /opt/feedd
chroot "$root" /opt/feedd/bin/pip install --quiet /usr/local/src/feedd
umount "$root/proc" "$root/dev"
ln -s /opt/feedd/bin/feedd "$root/usr/local/bin/feedd"
echo installed
exec systemd-nspawn -D "$root" --register=no --keep-unit --private-network \
    --capability=CAP_BPF --system-call-filter=bpf --link-journal=no --console=pipe -b \
    </dev/null
"""

# Run inside with /usr/bin/python3: a GET printing the status line then the body (after running
# the command given, if any: no time lost between the two), and a connection attempt printing
# how it ended.
GET = """
import subprocess, sys, urllib.error, urllib.request
if sys.argv[2:]:
    subprocess.run(sys.argv[2:], check=True)
try:
    answer = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as error:
    answer = error
sys.stdout.buffer.write(b"%d\\n" % answer.getcode() + answer.read())
"""
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except TimeoutError:
    print("timed out")
except OSError as error:
    print(error.strerror)
else:
    print("connected")
"""


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """`wait_for` at the pace of commands run in the container."""
    return wait_for(condition, timeout, what, every=0.1)


def holds(state: Callable[[], T], expected: T, seconds: float) -> None:
    """Fail as soon as `state()` is not `expected` during the next `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = state()
        assert now == expected, f"{now}, not {expected}"
        time.sleep(0.1)


def seconds(span: str) -> float:
    """A time span as systemctl shows it ("2s", "1min 30s", "500ms")."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
    return sum(float(n) * units[unit] for n, unit in re.findall(r"([\d.]+)(us|ms|min|s|h)", span))


@dataclass
class Container:
    pid: int  # its PID 1, as the host sees it

    @property
    def root(self) -> Path:
        """Its file system, from the host."""
        return Path(f"/proc/{self.pid}/root")

    def run(
        self, *command: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """`command` inside the container, as its root."""
        assert NSENTER is not None
        result = subprocess.run(
            [NSENTER, "-t", str(self.pid), "-a", "--", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": PATH, "LC_ALL": "C.UTF-8"},
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
        return result

    def show(self, *properties: str, unit: str = "feedd") -> dict[str, str]:
        lines = self.run("systemctl", "show", "-p", ",".join(properties), unit).stdout
        return {
            key: value for key, _, value in (line.partition("=") for line in lines.splitlines())
        }

    def restarts(self) -> int:
        return int(self.show("NRestarts")["NRestarts"])

    def main_pid(self) -> int:
        """The service's main process, as the container sees it (0 when none)."""
        return int(self.show("MainPID")["MainPID"])

    def update_pid(self) -> int:
        """The main process's one child: the update process it forked."""
        main = self.main_pid()
        (child,) = self.run("pgrep", "-P", str(main)).stdout.split()
        return int(child)

    def get(self, url: str, *after: str) -> tuple[int, bytes] | None:
        """A GET from inside, right after the command `after` if given: the status and the
        body, or None when nothing answered (or the command failed)."""
        assert NSENTER is not None
        result = subprocess.run(
            [NSENTER, "-t", str(self.pid), "-a", "--", "/usr/bin/python3", "-c", GET, url, *after],
            capture_output=True,
            timeout=30,
            env={"PATH": PATH, "LC_ALL": "C.UTF-8"},
            check=False,
        )
        if result.returncode != 0:
            return None
        status, _, body = result.stdout.partition(b"\n")
        return int(status), body

    def feed(self, *after: str) -> feedparser.FeedParserDict | None:
        """The Atom feed, parsed, or None when it is not served."""
        answer = self.get(FEED, *after)
        if answer is None or answer[0] != 200:
            return None
        parsed = feedparser.parse(answer[1])
        assert not parsed.bozo, parsed.get("bozo_exception")
        return parsed

    def titles(self) -> set[str]:
        parsed = self.feed()
        return set() if parsed is None else {entry.title for entry in parsed.entries}

    def feed_title(self) -> str | None:
        parsed = self.feed()
        return None if parsed is None else str(parsed.feed.title)

    def health(self) -> str | None:
        """/healthz's "status", or None when nothing answered."""
        answer = self.get(HEALTH)
        return None if answer is None else str(json.loads(answer[1])["status"])

    def cursor(self) -> str:
        """Where the journal ends now: `journal(cursor)` shows what came after."""
        out = self.run("journalctl", "-n", "1", "--show-cursor", "-o", "cat").stdout
        return out.rsplit("-- cursor: ", 1)[1].strip()

    def journal(self, cursor: str) -> str:
        return self.run("journalctl", "-u", "feedd", f"--after-cursor={cursor}", "-o", "cat").stdout

    @contextlib.contextmanager
    def journaled(self) -> Iterator[str]:
        """A journal cursor; an assertion failing in the block also shows what the journal
        said about feedd since."""
        cursor = self.cursor()
        try:
            yield cursor
        except AssertionError as error:
            journal = self.journal(cursor)
            raise AssertionError(f"{error}\n--- journalctl -u feedd ---\n{journal}") from None

    def settings(self, **changes: str) -> None:
        """/etc/feedd/feedd.toml: deploy/feedd.toml with these keys set to these TOML values."""
        text = SETTINGS.read_text()
        for key, value in changes.items():
            text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
            assert found == 1, key
        path = self.root / "etc/feedd/feedd.toml"
        path.write_text(text)
        path.chmod(0o644)

    def drop_in(self, name: str, text: str | None) -> None:
        """Write (or with None, remove) /etc/systemd/system/feedd.service.d/NAME.conf, then
        `systemctl daemon-reload`."""
        path = self.root / f"etc/systemd/system/feedd.service.d/{name}.conf"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"[Service]\n{text}\n")
        self.run("systemctl", "daemon-reload")

    def serving(self) -> bool:
        """Active, running and answering with a feed."""
        state = self.show("ActiveState", "SubState")
        return state == {"ActiveState": "active", "SubState": "running"} and bool(self.titles())


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    """Boot systemd in a container with feedd installed and its unit, settings and articles
    laid out (not yet started); halt it and remove its cgroups afterwards, pass or fail."""
    name = f"feedd-test-{os.getpid()}"
    cgroups = [hierarchy / name for hierarchy in CGROUPS]
    for cgroup in cgroups:
        cgroup.mkdir()
    mountpoint = tempfile.mkdtemp(prefix="feedd-systemd-")
    assert UNSHARE is not None
    # Not the tests' XDG_CACHE_HOME: pip keeps using root's cache (copied up, not written).
    env = {key: value for key, value in os.environ.items() if key != "XDG_CACHE_HOME"}
    process = subprocess.Popen(
        [UNSHARE, "--mount", "--", "sh", "-c", LAUNCH, "sh", name, mountpoint],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    log: list[str] = []
    assert process.stdout is not None
    stream = process.stdout

    def collect() -> None:
        for line in stream:
            log.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()

    def said(line: str) -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the launcher exited {process.returncode}")
        return f"{line}\n" in log

    try:
        wait_until(lambda: said("mounted"), 30, "the overlay")
        _lay_out(Path(f"/proc/{process.pid}/root{mountpoint}/root"))
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.close()
        wait_until(lambda: said("installed"), 240, "pip install")
        box = Container(wait_until(lambda: _pid_one(process.pid), 30, "PID 1"))
        wait_until(lambda: _booted(box), 60, "the boot")
        yield box
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- container ---\n{''.join(log)}") from None
    finally:
        _halt(process, cgroups[0])
        reader.join(10)
        stream.close()
        if process.stdin is not None:
            process.stdin.close()
        for cgroup in cgroups:
            _remove(cgroup)
        os.rmdir(mountpoint)


def _lay_out(root: Path) -> None:
    """What docs/deployment.md installs, in the overlay: the project to pip install, the unit
    (plus a drop-in for a short watchdog), the settings and the articles; and masks for the
    services this machine enables that a test container does not need."""

    def not_built(folder: str, names: list[str]) -> set[str]:
        if folder != str(PROJECT):
            return {name for name in names if name == "__pycache__"}
        return {name for name in names if name.startswith(".") or name.endswith(".egg-info")} | (
            set(names) & {"__pycache__", "build", "dist", "tests", "seeds"}
        )

    shutil.copytree(PROJECT, root / "usr/local/src/feedd", ignore=not_built)
    system = root / "etc/systemd/system"
    masked = {"getty@.service", "serial-getty@.service", "console-getty.service"}
    masked |= {
        wanted.name
        for wanted in system.glob("*.wants/*")
        if wanted.suffix in (".service", ".timer") and not wanted.name.startswith("feedd")
    }
    for unit in sorted(masked):
        (system / unit).unlink(missing_ok=True)
        (system / unit).symlink_to("/dev/null")
    shutil.copy(UNIT, system / "feedd.service")
    (system / "feedd.service.d").mkdir()
    (system / "feedd.service.d/watchdog.conf").write_text(
        f"[Service]\nWatchdogSec={WATCHDOG_SEC}\n"
    )
    settings = root / "etc/feedd/feedd.toml"
    settings.parent.mkdir(mode=0o755)
    shutil.copy(SETTINGS, settings)
    settings.chmod(0o644)
    seeds = root / SEEDS.lstrip("/")
    seeds.mkdir(mode=0o755, parents=True)
    for name, title, day in (("a", "Alpha", "2021-01-02"), ("b", "Bravo", "2021-01-03")):
        (seeds / f"{name}.txt").write_text(article(title, day=day))
        (seeds / f"{name}.txt").chmod(0o644)


def _pid_one(nspawn: int) -> int:
    """The container's PID 1: the child of systemd-nspawn that is 1 in its PID namespace (0
    until there is one)."""
    try:
        if Path(f"/proc/{nspawn}/comm").read_text().strip() != "systemd-nspawn":
            return 0
        children = Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()
        for child in map(int, children):
            status = Path(f"/proc/{child}/status").read_text()
            if re.search(r"^NSpid:\t\d+\t1$", status, re.M):
                return child
    except FileNotFoundError:
        pass
    return 0


def _booted(box: Container) -> bool:
    """Up, with or without failed units ("offline" until systemctl reaches PID 1)."""
    result = box.run("systemctl", "is-system-running", "--wait", check=False)
    return result.stdout.strip() in ("running", "degraded")


def _halt(process: subprocess.Popen[str], cgroup: Path) -> None:
    """SIGTERM to systemd-nspawn halts the container; what is left then (the container did not
    halt, or the launcher was still installing) is killed with the cgroup."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(60)
    (cgroup / "cgroup.kill").write_text("1")
    process.wait(10)
    wait_until(
        lambda: "populated 0" in (cgroup / "cgroup.events").read_text(), 10, "an empty cgroup"
    )


def _remove(cgroup: Path) -> None:
    """rmdir the cgroup and those systemd made in it, deepest first."""
    for path in sorted((p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        path.rmdir()
    cgroup.rmdir()


@pytest.fixture
def feedd(container: Container) -> Container:
    """The container with feedd serving, whatever the test before it left behind."""
    if container.show("ActiveState")["ActiveState"] != "active":
        container.run("systemctl", "reset-failed", "feedd", check=False)
        container.run("systemctl", "restart", "feedd")
    wait_until(container.serving, 30, "feedd serving")
    return container


# --- the tests, in the order they run on the one container -------------------------------------


def test_enable_now_is_active_once_ready(container: Container) -> None:
    """Type=notify: `enable --now` returns once feedd said READY=1, with a status line."""
    container.run("systemctl", "enable", "--now", "feedd")
    state = container.show("ActiveState", "SubState", "StatusText")
    assert state == {
        "ActiveState": "active",
        "SubState": "running",
        "StatusText": "serving 2 articles",
    }


def test_serves_the_seeded_articles(feedd: Container) -> None:
    parsed = feedd.feed()
    assert parsed is not None
    assert parsed.feed.title == "Example News"
    assert {entry.title for entry in parsed.entries} == {"Alpha", "Bravo"}


def test_a_dropped_file_is_served(feedd: Container) -> None:
    """The folder watcher works in the sandbox (inotify through the seccomp filter)."""
    path = feedd.root / SEEDS.lstrip("/") / "c.txt"
    path.write_text(article("Charlie", day="2021-01-04"))
    path.chmod(0o644)
    wait_until(lambda: "Charlie" in feedd.titles(), 10, "the dropped file in the feed")


def test_reload_applies_good_settings_and_refuses_bad_ones(feedd: Container) -> None:
    """`systemctl reload`: a new title is served; a bad value is refused, logged, and the
    running settings (the title too) are kept, the unit still active."""
    try:
        feedd.settings(title='"Reloaded News"')
        feedd.run("systemctl", "reload", "feedd")
        wait_until(lambda: feedd.feed_title() == "Reloaded News", 10, "the new title")

        with feedd.journaled() as cursor:
            feedd.settings(title='"Refused News"', max_entries='"x"')
            feedd.run("systemctl", "reload", "feedd")
            wait_until(lambda: "reload refused" in feedd.journal(cursor), 10, "'reload refused'")
            assert re.search(r"reload refused.*'max_entries'.*'x'", feedd.journal(cursor))
            assert feedd.show("ActiveState", "SubState") == {
                "ActiveState": "active",
                "SubState": "running",
            }
            assert feedd.feed_title() == "Reloaded News"
    finally:
        feedd.settings()
        feedd.run("systemctl", "reload", "feedd")
    wait_until(lambda: feedd.feed_title() == "Example News", 10, "the title restored")


def test_reload_returns_once_the_new_settings_are_in_effect(feedd: Container) -> None:
    """systemd waits for READY=1 after RELOADING=1: the GET right after `systemctl reload`
    already sees the new settings, a new title and what the rescan they ask for found (a
    .md file, included and excluded in turn)."""
    extra = feedd.root / SEEDS.lstrip("/") / "d.md"
    extra.write_text(article("Delta", day="2021-01-05"))
    extra.chmod(0o644)
    try:
        with feedd.journaled():
            for n, include in enumerate(('["*.txt", "*.md"]', '["*.txt"]') * 2):
                feedd.settings(title=f'"Ordered News {n}"', include=include)
                parsed = feedd.feed("systemctl", "reload", "feedd")
                assert parsed is not None, f"reload {n}: no feed (or the reload failed)"
                served = (parsed.feed.title, "Delta" in {entry.title for entry in parsed.entries})
                assert served == (f"Ordered News {n}", "md" in include), f"reload {n}"
    finally:
        extra.unlink()
        feedd.settings()
        feedd.run("systemctl", "reload", "feedd")
    wait_until(lambda: feedd.feed_title() == "Example News", 10, "the title restored")


def test_a_killed_server_is_restarted(feedd: Container) -> None:
    """Restart=on-failure: SIGKILL to the main process, and it is back after RestartSec."""
    restarts, main, titles = feedd.restarts(), feedd.main_pid(), feedd.titles()
    feedd.run("systemctl", "kill", "-s", "SIGKILL", "--kill-whom=main", "feedd")
    wait_until(
        lambda: feedd.restarts() > restarts and feedd.main_pid() not in (0, main),
        20,
        "a restart",
    )
    wait_until(feedd.serving, 20, "feedd serving again")
    assert feedd.titles() == titles


def test_a_stopped_server_is_restarted_by_the_watchdog(feedd: Container) -> None:
    """SIGSTOP to the main process: its event loop's WATCHDOG=1 pings stop."""
    restarts, main = feedd.restarts(), feedd.main_pid()
    with feedd.journaled() as cursor:
        feedd.run("kill", "-STOP", str(main))
        try:
            wait_until(lambda: feedd.restarts() > restarts, 3 * WATCHDOG_SEC + 5, "a restart")
        finally:
            feedd.run("kill", "-CONT", str(main), check=False)
        journal = feedd.journal(cursor)
        assert "Watchdog timeout" in journal
        assert "Failed with result 'watchdog'" in journal
    wait_until(feedd.serving, 20, "feedd serving again")


def test_a_stopped_update_process_is_restarted_by_the_watchdog(feedd: Container) -> None:
    """SIGSTOP to the forked update process: the server's loop still runs, yet the
    watchdog must fire (the folder is no longer published), and /healthz must say so first."""
    restarts = feedd.restarts()
    update = feedd.update_pid()
    said: list[str | None] = []

    def restarted() -> bool:
        health = feedd.health()
        again = feedd.restarts() > restarts
        if not again:  # said by the stuck process, not by the next one
            said.append(health)
        return again

    with feedd.journaled() as cursor:
        feedd.run("kill", "-STOP", str(update))
        try:
            wait_until(restarted, 3 * WATCHDOG_SEC + 5, "a watchdog restart")
        except AssertionError as error:
            raise AssertionError(f"{error}; meanwhile /healthz said {Counter(said)}") from None
        finally:
            feedd.run("kill", "-CONT", str(update), check=False)
        assert "Watchdog timeout" in feedd.journal(cursor)
        assert set(said) - {None, "ok"}, f"until the restart, /healthz said {Counter(said)}"
    wait_until(feedd.serving, 20, "feedd serving again")


def test_the_sandbox_is_in_effect(feedd: Container) -> None:
    """A dynamic user with no capabilities, no new privileges and a seccomp filter, for both
    processes; the articles and /etc read-only in its mount namespace, its state writable."""
    uid = feedd.show("UID")["UID"]
    assert uid.isdigit() and int(uid) != 0
    main = feedd.main_pid()
    for pid in (main, feedd.update_pid()):
        lines = feedd.run("cat", f"/proc/{pid}/status").stdout.splitlines()
        status = {key: value for key, _, value in (line.partition(":\t") for line in lines)}
        assert status["Uid"].split()[:2] == [uid, uid], pid
        assert status["CapEff"] == "0000000000000000", pid
        assert status["CapBnd"] == "0000000000000000", pid
        assert status["NoNewPrivs"] == "1", pid
        assert status["Seccomp"] == "2", pid

    def touch(path: str) -> subprocess.CompletedProcess[str]:
        """As root in the service's mount namespace: only a read-only mount stops it."""
        return feedd.run("nsenter", "-t", str(main), "-m", "--", "touch", path, check=False)

    for folder in (SEEDS, "/etc"):
        refused = touch(f"{folder}/.probe")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, folder
    assert touch("/var/lib/feedd/.probe").returncode == 0, "the state directory is writable"
    feedd.run("nsenter", "-t", str(main), "-m", "--", "rm", "/var/lib/feedd/.probe")


def test_only_loopback_clients_reach_it(feedd: Container) -> None:
    """IPAddressAllow=localhost and IPAddressDeny=any: listening on every address (through a
    drop-in), feedd answers on 127.0.0.1 while a connection from another address of the
    container hangs. The same address answers a listener outside the unit."""
    address = "10.1.2.3"
    feedd.run("ip", "address", "add", f"{address}/32", "dev", "lo")
    try:
        feedd.drop_in("listen", "Environment=FEEDD_HOST=0.0.0.0")
        feedd.run("systemctl", "restart", "feedd")
        wait_until(feedd.serving, 20, "feedd serving on 0.0.0.0")
        listening = feedd.run("ss", "-Htln", "sport = :8080").stdout
        assert "0.0.0.0:8080" in listening
        assert feedd.get(HEALTH) is not None

        def connect(port: int) -> str:
            return feedd.run("/usr/bin/python3", "-c", CONNECT, address, str(port), "3").stdout

        assert connect(8080).strip() == "timed out", "IPAddressDeny= not in effect"
        control = feedd.run(
            "systemd-run", "--unit=feedd-control", "/usr/bin/python3", "-m", "http.server",
            "--bind", address, "8081",
        )  # fmt: skip
        assert control.returncode == 0
        try:
            wait_until(lambda: connect(8081).strip() == "connected", 10, "the control listener")
        finally:
            feedd.run("systemctl", "stop", "feedd-control", check=False)
    finally:
        feedd.drop_in("listen", None)
        feedd.run("ip", "address", "del", f"{address}/32", "dev", "lo", check=False)
        feedd.run("systemctl", "restart", "feedd")


def test_a_stop_ends_in_success(feedd: Container) -> None:
    """STOPPING=1 then exit 0 within TimeoutStopSec: Result=success."""
    feedd.run("systemctl", "stop", "feedd")
    assert feedd.show("ActiveState", "Result") == {"ActiveState": "inactive", "Result": "success"}


def test_a_stop_with_the_update_process_stuck_ends_in_success(feedd: Container) -> None:
    """The server kills a update process that does not stop in time, well within the
    unit's own TimeoutStopSec, rather than systemd killing everything at the timeout."""
    timeout = seconds(feedd.show("TimeoutStopUSec")["TimeoutStopUSec"])
    with feedd.journaled():
        feedd.run("kill", "-STOP", str(feedd.update_pid()))
        started = time.monotonic()
        feedd.run("systemctl", "stop", "feedd", timeout=timeout + 30)
        took = time.monotonic() - started
        result = feedd.show("ActiveState", "Result")
        assert result == {"ActiveState": "inactive", "Result": "success"}, (
            f"{result} after {took:.1f} s"
        )


def test_a_missing_articles_folder_fails_once(feedd: Container) -> None:
    """A configuration error is not retried every RestartSec: the unit fails, and the journal
    names the folder."""
    feedd.run("systemctl", "stop", "feedd")
    seeds = feedd.root / SEEDS.lstrip("/")
    away = seeds.with_name("seeds.away")
    seeds.rename(away)
    try:
        with feedd.journaled() as cursor:
            assert feedd.run("systemctl", "start", "feedd", check=False).returncode != 0
            failed = {"ActiveState": "failed", "NRestarts": str(feedd.restarts())}
            window = 2.5 * seconds(feedd.show("RestartUSec")["RestartUSec"])
            holds(lambda: feedd.show("ActiveState", "NRestarts"), failed, window)
            wait_until(
                lambda: f"{SEEDS}: not a folder" in feedd.journal(cursor),
                10,
                f"'{SEEDS}: not a folder' in the journal",
            )
    finally:
        away.rename(seeds)
        feedd.run("systemctl", "reset-failed", "feedd", check=False)
        feedd.run("systemctl", "restart", "feedd", check=False)
    wait_until(feedd.serving, 20, "feedd serving again")
