"""The sd_notify protocol: readiness, watchdog and stopping. Nothing else knows about systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to `$NOTIFY_SOCKET`; silently does nothing when not under systemd."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # An abstract socket is written "@name" by systemd and "\0name" on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_seconds = _watchdog_interval(environ)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as error:
            log.warning("cannot notify systemd (%s): %s", message.split("\n", 1)[0], error)

    def ready(self, status: str) -> None:
        self.notify(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def reloading(self) -> None:
        self.notify("RELOADING=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    @property
    def watchdog_seconds(self) -> float | None:
        """`WatchdogSec=` when systemd expects pings from this process, else None."""
        return self._watchdog_seconds if self._address else None

    async def watchdog(self, healthy: Callable[[], bool] = lambda: True) -> None:
        """Ping at half the watchdog interval while `healthy()`, from the event loop itself: if
        the loop is stuck, or what it checks is, the pings stop and systemd restarts the
        service."""
        if not self._address or self._watchdog_seconds is None:
            return
        while True:
            if healthy():
                self.notify("WATCHDOG=1")
            await asyncio.sleep(self._watchdog_seconds / 2)


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000
