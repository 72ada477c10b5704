"""Hostile clients against the real `feedd serve` on loopback, and every HTTP bound at and just
past its edge: a thousand keep-alive connections, slow lorises, clients that never read their
answer, request smuggling, junk, path traversal in every encoding. Throughout, a normal reader
keeps getting correct feeds (only correctness is asserted, never timing), and the daemon's log
never holds a traceback or an ERROR line.
"""

from __future__ import annotations

import contextlib
import json
import random
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import Daemon, article, running_daemon, wait_for

from feedd.serve.listener import MAX_HEADERS, MAX_LINE_BYTES

MiB = 1024 * 1024
TITLES = {"Alpha", "Bravo", "Huge"}
HUGE = "/articles/huge.html"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSING = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
OUTSIDE = "Outside Marker"  # the headline of an article beside the folder, never to be served
_TCP_CLOSE, _TCP_CLOSE_WAIT = 7, 8  # tcpi_state values (linux/tcp_states.h)


def _kernel_send_buffer() -> int:
    """The most a socket's send buffer grows to: an answer larger than this plus some must
    wait in feedd's own buffers for a client that does not read."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * MiB


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    seeds = root / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text(article("Alpha"))
    (seeds / "b.txt").write_text(article("Bravo", day="2021-01-03"))
    # One page larger than the kernel will buffer for a client, so that a client that never
    # reads it leaves the rest to feedd; its feed entries are cut at max_feed_bytes / 4.
    paragraph = "All work and no play makes a very long page. " * 20
    count = (_kernel_send_buffer() + 4 * MiB) // len(paragraph) + 1
    (seeds / "huge.txt").write_text(
        " date 2021-01-01 Wire\nHuge\n\n" + "\n\n".join([paragraph] * count) + "\n"
    )
    (root / "outside.txt").write_text(article(OUTSIDE))
    return seeds


LARGE_ARTICLES = ("--max-article-bytes", str(64 * MiB))


@contextmanager
def _daemon(folder: Path, *args: str) -> Iterator[Daemon]:
    with running_daemon(folder, *LARGE_ARTICLES, *args, timeout=60) as daemon:
        assert daemon.get(HUGE).status == 200  # built once, before anything is measured
        yield daemon


@pytest.fixture(scope="module")
def roomy(folder: Path) -> Iterator[Daemon]:
    """Default bounds, but a 2 s send_timeout."""
    with _daemon(folder, "--send-timeout", "2") as daemon:
        yield daemon


@pytest.fixture(scope="module")
def tight(folder: Path) -> Iterator[Daemon]:
    """A 2 s keepalive_timeout: idle connections, slow lorises and request bodies."""
    with _daemon(folder, "--keepalive-timeout", "2") as daemon:
        yield daemon


@pytest.fixture(autouse=True)
def _clean_log(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("roomy", "tight"):
        if name in request.fixturenames:
            log = "".join(request.getfixturevalue(name).log)
            assert "Traceback" not in log, log
            assert " ERROR " not in log, log


# --- clients -----------------------------------------------------------------------------------


def connect(daemon: Daemon, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the window stays small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", daemon.port))
    return sock


def exchange(daemon: Daemon, request: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """Send `request` byte for byte; the answers the server sent, and whether it then closed
    the connection (within 10 s: meant for requests after which it should)."""
    with connect(daemon) as sock:
        # It may stop listening to a long request: what it said is still there to be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        data, closed = read_until_closed(sock)
    return responses(data), closed


def read_until_closed(sock: socket.socket, timeout: float = 10) -> tuple[bytes, bool]:
    data = b""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each whole response in `data`, framed by Content-Length."""
    found = []
    while b"\r\n\r\n" in data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        found.append((int(lines[0].split()[1]), data[:length]))
        data = data[length:]
    return found


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed by the server after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed by the server in the middle of a body"
        body += chunk
    assert len(body) == length, "more than one answer to one request"
    return int(head.split()[1]), body


def closed_by_server(sock: socket.socket, timeout: float = 30) -> bool:
    """Whether the server closes `sock` (with nothing more to read) within `timeout`."""
    data, closed = read_until_closed(sock, timeout)
    assert data == b"", f"unexpected answer {data[:80]!r}"
    return closed


def dropped(sock: socket.socket) -> bool:
    """Whether the server has closed, reset or dropped `sock`, found without reading from it
    (reading is what a stalled client must not do). A connection the kernel drops for data
    left unacknowledged (TCP_USER_TIMEOUT) is gone on the server's side only."""
    state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return state in (_TCP_CLOSE, _TCP_CLOSE_WAIT) or not _server_side_open(sock)


def _server_side_open(sock: socket.socket) -> bool:
    """Whether the server's end of `sock` is still an established connection."""
    client_port = sock.getsockname()[1]
    server_port = sock.getpeername()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
            and state == "01"  # TCP_ESTABLISHED
        ):
            return True
    return False


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextmanager
def normal_reader(daemon: Daemon) -> Iterator[None]:
    """A feed reader polling the feeds in a thread for the length of the block: every answer
    must be whole and right, and there must be some."""
    stop = threading.Event()
    right: list[str] = []
    wrong: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                atom = daemon.titles("/feed.atom")
                items = json.loads(daemon.get("/feed.json").body)["items"]
                feed = {item["title"] for item in items}
                (right if atom == feed == TITLES else wrong).append(f"{atom} {feed}")
            except Exception as error:  # any failure is a wrong answer
                wrong.append(repr(error))
            stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not wrong, wrong[:5]
    assert right, "the reader got no answer at all"


@pytest.fixture
def open_files() -> Iterator[None]:
    """Room for 1,000 connections in this process (and the daemon it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- many connections, slow and silent ones ----------------------------------------------------


def test_a_thousand_keepalive_connections_while_a_reader_reads(
    roomy: Daemon, open_files: None
) -> None:
    held: list[socket.socket] = []
    try:
        with normal_reader(roomy):
            for _ in range(1000):
                held.append(connect(roomy))
                held[-1].sendall(HEALTHZ)
            assert all(read_response(sock)[0] == 200 for sock in held)
            # All thousand held at once: each answers again on the same connection.
            for sock in held:
                sock.sendall(HEALTHZ)
            assert all(read_response(sock)[0] == 200 for sock in held)
    finally:
        for sock in held:
            sock.close()


def test_slow_lorises_sending_a_byte_a_second_are_closed(tight: Daemon) -> None:
    head = b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100 + b"\r\n\r\n"
    lorises = [connect(tight) for _ in range(8)]
    still_open = set(lorises)
    answered = []
    with normal_reader(tight):
        for sent in range(30):  # the head would take 140 s; keepalive_timeout is 2 s
            readable, _, _ = select.select(list(still_open), [], [], 0)
            for sock in readable:
                data, _ = read_until_closed(sock, 1)
                answered += [data] if data else []
                still_open.discard(sock)
            for sock in list(still_open):
                try:
                    sock.send(head[sent : sent + 1])
                except OSError:
                    still_open.discard(sock)
            if not still_open:
                break
            time.sleep(1)
    assert not still_open, "a slow loris was never closed"
    assert answered == [], "a slow loris got an answer to a head it never finished"
    for sock in lorises:
        sock.close()


def test_idle_connections_are_closed_after_keepalive_timeout(tight: Daemon) -> None:
    with connect(tight) as silent, connect(tight) as served:
        served.sendall(HEALTHZ)
        assert read_response(served)[0] == 200
        served.sendall(HEALTHZ)  # just after an answer, well inside the timeout: still open
        assert read_response(served)[0] == 200
        assert closed_by_server(served), "an idle keep-alive connection stayed open"
        assert closed_by_server(silent), "a connection that never sent a byte stayed open"


def test_request_bodies_are_never_read_and_cannot_hold_a_connection(tight: Daemon) -> None:
    # A whole body is discarded: the connection stays usable and the body is not a request.
    smuggled = b"GET /feed.json HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(tight) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(smuggled), smuggled)
        )
        status, body = read_response(sock)
        assert status == 200 and json.loads(body)["status"] == "ok"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % MiB)
        sock.sendall(b"x" * MiB)
        assert read_response(sock)[0] == 200
        sock.sendall(HEALTHZ)
        assert read_response(sock)[0] == 200
    # A body that never finishes: answered at once, closed once keepalive_timeout is spent.
    with connect(tight) as sock:
        sock.sendall(b"POST /feed.atom HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        sock.sendall(b"x" * 1000)
        assert read_response(sock)[0] == 405
        assert closed_by_server(sock), "a never-ending body held the connection"


def test_clients_that_never_read_are_reset_and_hold_little_memory(roomy: Daemon) -> None:
    pid = roomy.process.pid
    before = peak = resident_bytes(pid)
    stalled = []
    with normal_reader(roomy):
        for _ in range(20):
            sock = connect(roomy, receive_buffer=4096)
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % HUGE.encode())
            stalled.append(sock)
        pipelined = connect(roomy, receive_buffer=4096)
        pipelined.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\n\r\n" * 40)
        stalled.append(pipelined)

        def all_dropped() -> bool:
            nonlocal peak
            peak = max(peak, resident_bytes(pid))
            return all(map(dropped, stalled))

        wait_for(all_dropped, timeout=60, what="the stalled clients to be reset")
    for sock in stalled:
        sock.close()
    # Each stalled client leaves megabytes of its page to feedd; held whole, twenty of them
    # would be 80 MB and more. Sent in slices, each holds a few hundred KB at most.
    assert peak - before < 40 * MiB, f"{(peak - before) / MiB:.0f} MiB held for stalled clients"


# --- request smuggling, junk, traversal --------------------------------------------------------

SMUGGLING = {
    "content-length and chunked": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    "chunked and content-length": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n0\r\n\r\n",
    "two content-lengths": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
    b"Content-Length: 37\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    "two equal content-lengths": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    "content-length list": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    "signed content-length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "hex content-length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n",
    "obs-fold transfer-encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n"
    b" chunked\r\n\r\n0\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare LF in a header": b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare CR": b"GET / HTTP/1.1\rHost: x\r\n\r\n",
    "space before the colon": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
    b"\r\n0\r\n\r\n",
    "chunked, then gzip": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "unknown transfer-encoding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked"
    b"\r\n\r\n",
    "chunk size not hex": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    "negative chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"-1\r\nabc\r\n0\r\n\r\n",
    "chunk size overflow": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"FFFFFFFFFFFFFFFFF1\r\nabc\r\n0\r\n\r\n",
    "chunk shorter than its size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n5\r\nab\r\n0\r\n\r\n",
    "two hosts": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "no host": b"GET / HTTP/1.1\r\n\r\n",
    "NUL in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "space in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "unknown version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "junk after a good request": HEALTHZ + b"BLAH\x01\x02 / HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_ambiguous_or_malformed_framing_gets_400_and_a_close(
    roomy: Daemon, request_bytes: bytes
) -> None:
    answers, closed = exchange(roomy, request_bytes)
    statuses = [status for status, _ in answers]
    if request_bytes.startswith(HEALTHZ):
        # aiohttp parses what arrives together as one: the good request is answered only
        # when it came apart from the junk.
        assert statuses in ([200, 400], [400]), statuses
    else:
        assert statuses == [400], statuses  # one answer: nothing smuggled past it
    assert closed, "the connection stayed open after a malformed request"


def _junk() -> dict[str, bytes]:
    rng = random.Random(20210102)  # noqa: S311 (reproducible junk, not secrets)

    def noise(size: int) -> bytes:
        return b"\x80" + bytes(rng.getrandbits(8) for _ in range(size - 1))

    return {
        "TLS client hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + noise(500),
        "one byte": b"\x00",
        "random 100 bytes": noise(100),
        "random 64 KiB": noise(65536),
        "random 1 MiB": noise(MiB),
        "a NUL in the method": b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
        "words": b"hello world\r\n\r\n",
        "telnet": b"\xff\xf4\xff\xfd\x06",
    }


JUNK = _junk()


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_junk_bytes_get_400_or_a_close_and_no_traceback(roomy: Daemon, junk: bytes) -> None:
    with normal_reader(roomy):
        answers, closed = exchange(roomy, junk)
    assert [status for status, _ in answers] in ([400], []), answers
    assert closed


TRAVERSAL = [
    "/../../../../etc/passwd",
    "/articles/../../../etc/passwd",
    "/articles/../../outside.html",
    "/articles/..%2f..%2foutside.html",
    "/articles/%2e%2e/%2e%2e/outside.html",
    "/articles/%2E%2E%2F%2E%2E%2Foutside.html",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/articles/%252e%252e%252f%252e%252e%252foutside.html",
    "/%25252e%25252e/etc/passwd",
    "/..%5c..%5cetc%5cpasswd",
    "/articles/..%5C..%5Coutside.html",
    "/articles/..\\..\\outside.html",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/articles/%c0%ae%c0%ae%c0%afoutside.html",
    "/%e0%80%ae%e0%80%ae/etc/passwd",
    "/%c1%9c..%c1%9cetc%c1%9cpasswd",
    "/etc/passwd%00.html",
    "/articles/outside%00.html",
    "/articles/a.txt",
    "/articles/../seeds/a.txt",
    "//etc/passwd",
    "///etc/passwd",
    "/articles//etc/passwd.html",
    "/articles/%2fetc%2fpasswd.html",
    "http://x/../../etc/passwd",
    "http://x/articles/%2e%2e/%2e%2e/outside.html",
    "file:///etc/passwd",
    "http://127.0.0.1:1/../outside.html",
]


@pytest.mark.parametrize("target", TRAVERSAL)
def test_traversal_in_any_encoding_is_4xx_and_never_a_file_outside(
    roomy: Daemon, target: str
) -> None:
    # Sent byte for byte: an HTTP client library would normalise the dots away.
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answers, _ = exchange(roomy, request.encode())
    assert len(answers) == 1
    status, body = answers[0]
    assert 400 <= status < 500, (target, status)
    assert OUTSIDE.encode() not in body and b"root:" not in body


def test_a_raw_nul_in_the_target_and_the_absolute_form(roomy: Daemon) -> None:
    answers, closed = exchange(roomy, b"GET /etc/passwd\x00.html HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [status for status, _ in answers] == [400] and closed
    # The absolute form is HTTP (RFC 9112 3.2.2): the same document as the path alone.
    answers, _ = exchange(
        roomy, b"GET http://elsewhere/feed.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answers == [(200, roomy.get("/feed.atom").body)]


# --- request size bounds, at and just past each edge ------------------------------------------


def _request(target: bytes = b"/healthz", fields: list[bytes] | None = None) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: x", *(fields or []), b"", b""]
    return b"\r\n".join(lines)


# aiohttp counts a header field's name and value against max_field_size together, or not,
# depending on the field before it; within 8190 bytes in all a field is always taken, and a
# name or a value longer than that alone is always refused.
SIZES = {
    "target at the limit": (_request(b"/" + b"a" * (MAX_LINE_BYTES - 1)), 404),
    "target past it": (_request(b"/" + b"a" * MAX_LINE_BYTES), 400),
    "header field at the limit": (_request(fields=[b"X-V: " + b"v" * (MAX_LINE_BYTES - 3)]), 200),
    "header value past it": (_request(fields=[b"X-V: " + b"v" * (MAX_LINE_BYTES + 1)]), 400),
    "header name past it": (_request(fields=[b"X" * (MAX_LINE_BYTES + 1) + b": v"]), 400),
    "header fields at the limit": (
        _request(fields=[b"X-%d: y" % i for i in range(MAX_HEADERS - 1)]),
        200,
    ),
    "header fields past it": (_request(fields=[b"X-%d: y" % i for i in range(MAX_HEADERS)]), 400),
}


@pytest.mark.parametrize(("request_bytes", "status"), SIZES.values(), ids=SIZES.keys())
def test_request_line_and_header_bounds(roomy: Daemon, request_bytes: bytes, status: int) -> None:
    if status == 400:
        answers, closed = exchange(roomy, request_bytes)
        assert [answer for answer, _ in answers] == [400] and closed
        return
    with connect(roomy) as sock:  # answered, and the connection is still good
        sock.sendall(request_bytes)
        assert read_response(sock)[0] == status
        sock.sendall(HEALTHZ)
        assert read_response(sock)[0] == 200


def _unfinished_head(size: int) -> bytes:
    """A request head of exactly `size` bytes, cut in the middle of a header value."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    field = 0
    while len(head) + 8000 < size:
        head += b"X-%03d: " % field + b"v" * (8000 - 9) + b"\r\n"
        field += 1
    return head + b"X-Last: " + b"v" * (size - len(head) - 8)
