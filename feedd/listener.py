"""The listening socket, and bounds on every client that comes through it.

aiohttp itself closes a connection that has not sent a whole request head within
`keepalive_timeout` of connecting or of its last answer (an idle connection and a slow loris
alike: aiohttp 3.14 starts that timer at connect), answers 400 and closes on a request target
or header field over 8 KiB, on more than 128 header fields and on ambiguous framing
(Content-Length with Transfer-Encoding, two Content-Lengths, obs-fold, bare LF, bad chunk
sizes), and discards a request body it was never asked to read for a while before closing
(here `keepalive_timeout` too). What it leaves unbounded, this module bounds:

- connections: at most `max_connections` at once, and never more than the open-file limit
  allows (raised to fit at startup). A new connection past the limit closes the oldest idle one,
  or, when none is idle, is answered 503 and closed;
- request heads: at most 64 KiB in all, past which 431 and a close;
- clients that stop reading: an answer that has not drained for `send_timeout` seconds gets
  its connection reset, which frees what was buffered for it;
- the log: a request aiohttp cannot parse is one DEBUG line and a count in /metrics, not an
  ERROR with a traceback for anyone to print at will.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from feedd.config import Settings
from feedd.metrics import Metrics

log = logging.getLogger(__name__)

# A request target, and each header field's name and value, up to 8190 bytes (nginx's 8k
# buffer; aiohttp's default); at most 128 header fields; and at most 64 KiB of head in all
# (aiohttp has no such bound: 128 fields of 8 KiB are 1 MiB, and it keeps each twice, as bytes
# and as text, so a thousand connections trickling such heads would hold 2 GB).
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
MAX_HEAD_BYTES = 64 * 1024
# Connections the kernel queues for accept(); asyncio also accepts up to this many at once, so
# they count against the open-file limit too.
BACKLOG = 1024
# Files kept open besides connections: the listening socket, the folder watch, the cache, pipes
# to the worker processes, articles being read, the log.
OWN_FILES = 256


def _answer(status: str, text: str, *headers: str) -> bytes:
    """A whole response, for the answers given before aiohttp has a request to answer."""
    body = text.encode() + b"\n"
    head = [f"HTTP/1.1 {status}", "Server: feedd", "Content-Type: text/plain; charset=utf-8"]
    head += [f"Content-Length: {len(body)}", *headers, "Connection: close", "", ""]
    return "\r\n".join(head).encode() + body


_REFUSED = _answer("503 Service Unavailable", "too many connections", "Retry-After: 1")
_HEAD_TOO_LARGE = _answer("431 Request Header Fields Too Large", "request head too large")
# SO_LINGER on with a zero timeout: close() sends a reset and drops the unsent buffer at once,
# instead of the kernel holding it for a peer that will not take it.
_LINGER_ZERO = struct.pack("ii", 1, 0)


def handler_args(settings: Settings, count: Callable[[int], None]) -> dict[str, Any]:
    """aiohttp's per-connection settings (`web.Application(handler_args=...)`): they win over
    the runner's. `count(status)` is told of each malformed request."""
    return {
        "keepalive_timeout": settings.keepalive_timeout,
        # A request body (never read: only GET and HEAD are served) is discarded for at most
        # this long after the answer, then the connection is closed.
        "lingering_time": settings.keepalive_timeout,
        "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_LINE_BYTES,
        "max_headers": MAX_HEADERS,
        "logger": ClientErrorLog(logging.getLogger("aiohttp.server"), count),
    }


class ClientErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, except that a request it could not parse (a client's mistake or an
    attack, already answered 400 and closed) is one DEBUG line and a count rather than an ERROR
    with a traceback. Any other exception keeps its traceback: that would be a bug in feedd."""

    def __init__(self, logger: logging.Logger, count: Callable[[int], None]) -> None:
        super().__init__(logger, {})
        self._count = count

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._client_error(args, exc_info):
            super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        # aiohttp logs garbage on a connection's first request (TLS to the plain port) at DEBUG,
        # with its traceback.
        if not self._client_error(args, kwargs.get("exc_info")):
            super().debug(msg, *args, **kwargs)

    def _client_error(self, args: tuple[Any, ...], error: Any) -> bool:
        if not isinstance(error, HttpProcessingError):
            return False
        self._count(error.code)
        reason = (error.message or "").strip().splitlines() or [type(error).__name__]
        client = args[0] if args else "a client"
        log.debug("%d for a malformed request from %s: %s", error.code, client, reason[0])
        return True


class Listener(web.BaseSite):
    """aiohttp's `TCPSite`, with a cap on connections and the bounds of `_Connection`."""

    def __init__(
        self, runner: web.BaseRunner, settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.metrics = metrics if metrics is not None else Metrics()  # for /metrics
        self.max_connections, backlog = fit_open_files(settings.max_connections)
        super().__init__(runner, backlog=backlog)
        self._host = settings.host
        self._port = settings.port
        self.send_timeout = settings.send_timeout
        self.open: dict[_Connection, None] = {}  # in the order they came: the oldest first
        self.refused = 0  # newcomers answered 503
        self.evicted = 0  # idle connections closed to make room
        self.reset = 0  # connections reset for leaving their answer untaken

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}/"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._accept, self._host, self._port, backlog=self._backlog, reuse_address=True
        )

    def _accept(self) -> asyncio.Protocol:
        """Called by asyncio for each accepted socket: the protocol that will speak on it."""
        server = self._runner.server
        assert server is not None
        if len(self.open) >= self.max_connections:
            idle = next((c for c in self.open if c.idle()), None)
            if idle is None:
                self.refused += 1
                self.metrics.requests[503] += 1
                self.metrics.closed["refused"] += 1
                if self.refused == 1 or self.refused % 1000 == 0:
                    log.warning(
                        "%d connections at once, none of them idle (max_connections): "
                        "answered 503 to %d so far",
                        len(self.open),
                        self.refused,
                    )
                return _Refused()
            self.evicted += 1
            self.metrics.closed["evicted"] += 1
            idle.close()
        connection = _Connection(server(), self)
        # Counted from now: asyncio accepts a burst of sockets before any of them is connected.
        self.open[connection] = None
        return connection


class _Connection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the bounds it lacks.

    - A request head of more than MAX_HEAD_BYTES is answered 431 and the connection closed.
      Counted are the bytes received, while waiting for a request, since the last head was
      complete; a pipelined batch of whole requests never trips it.
    - asyncio pauses writing once more than 64 KiB wait in the transport and resumes it below
      16 KiB; a client that keeps it paused for `send_timeout` seconds (one that reads nothing,
      or less than about 48 KiB in that time) has its connection reset.

    It reads three private attributes of aiohttp's RequestHandler (whether it waits for a
    request, has one in hand, and how many it has parsed); tests/test_hostile.py fails if
    they change.
    """

    __slots__ = ("_closed", "_deadline", "_head", "_heads", "_http", "_listener", "_transport")

    def __init__(self, http: RequestHandler, listener: Listener) -> None:
        self._http = http
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._heads = 0  # whole request heads parsed so far
        self._head = 0  # bytes of the one being received
        self._closed = False  # closed before it was connected

    def idle(self) -> bool:
        """Open with no request in hand: waiting for one, or just accepted."""
        http = self._http
        if self._transport is None:
            return not self._closed
        return http.transport is not None and not http._request_in_progress and not http._messages

    def close(self) -> None:
        self._listener.open.pop(self, None)
        if self._transport is None:
            self._closed = True  # closed as soon as asyncio connects it
        else:
            self._http.force_close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's do not derive from asyncio.Transport.
        self._transport = transport = cast(asyncio.Transport, transport)
        if self._closed:
            transport.close()
            return
        self._http.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        http = self._http
        http.data_received(data)
        heads = http._request_count
        if heads != self._heads:
            self._heads, self._head = heads, 0
        elif heads == 0 or ((waiter := http._waiter) is not None and not waiter.done()):
            # No request yet (uvloop may deliver it before aiohttp's handler task has started
            # to wait for one), or waiting for the next: all of this is an unfinished head.
            self._head += len(data)
            if self._head > MAX_HEAD_BYTES and self._transport is not None:
                log.debug("431 for a request head of more than %d bytes", MAX_HEAD_BYTES)
                self._transport.write(_HEAD_TOO_LARGE)
                self._listener.metrics.requests[431] += 1
                self.close()

    def eof_received(self) -> bool | None:
        return self._http.eof_received()

    def pause_writing(self) -> None:
        self._http.pause_writing()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._listener.send_timeout, self._reset)

    def resume_writing(self) -> None:
        self._cancel()
        self._http.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._listener.open.pop(self, None)
        if not self._closed:
            self._http.connection_lost(exc)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _reset(self) -> None:
        self._deadline = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._listener.reset += 1
        self._listener.metrics.closed["reset"] += 1
        log.debug(
            "reset a connection whose answer stayed untaken for %g s", self._listener.send_timeout
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        transport.abort()


class _Refused(asyncio.Protocol):
    """A connection past `max_connections` with none idle to make room: a 503, then closed.

    Closed once the client's request has been read (or after a second), not at once: a socket
    closed with a request still unread sends a reset, and the client would lose the 503.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though uvloop's do not derive from asyncio.Transport.
        self._transport = transport = cast(asyncio.Transport, transport)
        transport.write(_REFUSED)
        self._timer = asyncio.get_running_loop().call_later(1, transport.close)

    def data_received(self, data: bytes) -> None:
        self._transport.close()

    def eof_received(self) -> bool:
        self._transport.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()


def fit_open_files(connections: int) -> tuple[int, int]:
    """How many connections at once, and what accept backlog, the open-file limit allows.

    The soft limit is raised toward the hard one as far as `connections` need (systemd starts
    services at 1024); past the hard limit, fewer connections, with a warning. Running out of
    file descriptors would fail more than accept(): articles could not be read either.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + BACKLOG + OWN_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError) as error:
            log.warning("cannot raise the open-file limit to %d: %s", raised, error)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections, BACKLOG
    backlog = min(BACKLOG, max(soft // 4, 16))  # a shorter queue first, then fewer connections
    fitting = max(soft - backlog - OWN_FILES, 1)
    if fitting < connections:
        log.warning(
            "the open-file limit (%d) allows %d connections at once, not max_connections = %d;"
            " raise LimitNOFILE= to %d",
            soft,
            fitting,
            connections,
            wanted,
        )
    return min(fitting, connections), backlog
