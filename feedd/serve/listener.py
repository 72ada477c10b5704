"""The listening socket, and the bounds on clients that aiohttp's documented settings give.

- A connection that has not sent a whole request head within `keepalive_timeout` of
  connecting or of its last answer is closed (idle connections and slow lorises alike).
- A request target or header field over 8190 bytes, more than 128 header fields, or
  ambiguous framing (Content-Length with Transfer-Encoding, two lengths, obs-fold, bare LF) is
  answered 400 and the connection closed; a request body (never read) is discarded for at
  most `keepalive_timeout`.
- A client that stops reading its answer: the kernel drops the connection once what was sent
  has waited `send_timeout` seconds unacknowledged (TCP_USER_TIMEOUT), which frees its buffer.

How many connections are open at once is bounded by the open-file limit (the unit's
`LimitNOFILE=`); a reverse proxy in front (nginx's `limit_conn`) bounds it per client.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

from feedd.config import Settings

log = logging.getLogger(__name__)

# A request target, and each header field's name and value, up to 8190 bytes (nginx's 8k
# buffer; aiohttp's default); at most 128 header fields.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
# Connections the kernel queues for accept().
BACKLOG = 1024


def handler_args(settings: Settings, count: Callable[[int], None]) -> dict[str, Any]:
    """aiohttp's per-connection settings (`web.Application(handler_args=...)`). `count(status)`
    is told of each malformed request."""
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
    """aiohttp's server log, except that a request it could not parse (a client's mistake or
    an attack, already answered 400 and closed) is one DEBUG line and a count, not an ERROR
    with a traceback for anyone to print at will. Any other exception keeps its traceback: it
    would be a bug in feedd."""

    def __init__(self, logger: logging.Logger, count: Callable[[int], None]) -> None:
        super().__init__(logger, {})
        self._count = count

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if error is True or isinstance(error, tuple):
            error = (sys.exc_info() if error is True else error)[1]
        # Imported here: the listening socket is made before aiohttp is loaded.
        from aiohttp.http import HttpProcessingError

        if not isinstance(error, HttpProcessingError):
            super().log(level, msg, *args, **kwargs)
            return
        self._count(error.code)
        reason = (error.message or "").strip().splitlines() or [type(error).__name__]
        client = args[0] if args else "a client"
        log.debug("%d for a malformed request from %s: %s", error.code, client, reason[0])


def listening_socket(settings: Settings) -> socket.socket:
    """A socket bound to `host` and `port`, listening, for `web.SockSite`."""
    family, kind, proto, _, address = socket.getaddrinfo(
        settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux; accepted connections inherit it
            timeout_ms = int(settings.send_timeout * 1000)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
