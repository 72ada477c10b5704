"""`feedd serve`: the HTTP server and its publishing process, under systemd's eye."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from feedd import channel
from feedd.config import Settings, SettingsError
from feedd.systemd import Notifier

if TYPE_CHECKING:
    from feedd.server import Published

log = logging.getLogger(__name__)

# A stop must fit well inside the unit's TimeoutStopSec=20, whatever state the publishing
# process is in: requests in flight get this long to finish...
_SHUTDOWN_SECONDS = 3
# ...and the publishing process this long from the stop to save its cache and end, after
# which it is killed.
_PUBLISHING_STOP_SECONDS = 10
# The publishing process is stalled when nothing came from it for this long (it says it is
# alive every `channel.ALIVE_SECONDS`); with a watchdog, at most half its interval.
_STALLED_SECONDS = 10.0
# Settings the listening socket, the connection handler or the mirror took at startup.
_FIXED_UNTIL_RESTART = (
    "host",
    "port",
    "publish",
    "max_connections",
    "keepalive_timeout",
    "send_timeout",
)


def run(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the settings and rescans.

    Two processes: this one serves, and a child forked here publishes (see `channel.py` for
    why). Forked before anything runs, so it starts with no thread and no event loop; and
    before either loads what only it runs (aiohttp's server here, the watcher there), so the
    publishing process starts reading the folder while this one is still loading."""
    if not settings.seeds.is_dir():
        log.error("%s: not a folder", settings.seeds)
        return 2
    # Hand the GIL over every 0.1 ms instead of 5, in both processes: in the publishing one,
    # its loop answers the server's asks while the publisher thread renders; it lets go of the
    # GIL at every system call and would wait up to a whole interval to get it back. (In one
    # process, p99 while 10,000 files landed was 3.2 to 4.0x idle at 0.5 ms, 2.4 to 2.5x at 0.1.)
    sys.setswitchinterval(0.0001)
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        code = 1
        try:
            from feedd import publishing

            code = publishing.run(theirs, settings)
        except BaseException:
            log.exception("the publishing process failed")
        finally:
            logging.shutdown()
            os._exit(code)
    theirs.close()
    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            return runner.run(_serve(settings, reload_settings, ours))
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, error.strerror)
        return 1
    finally:
        ours.close()
        _reap(child)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: its I/O runs in C, and holds the GIL once a request where
    asyncio's takes it back after each system call. 8-11% more requests a second for full,
    gzip and 304 answers alike; asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(
    settings: Settings, reload_settings: Callable[[], Settings], ours: socket.socket
) -> int:
    from aiohttp import web

    from feedd.listener import Listener
    from feedd.server import Published, create_app

    loop = asyncio.get_running_loop()
    notifier = Notifier(os.environ)
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=channel.READ_LIMIT)
    documents = channel.RemoteDocuments(writer)
    heard = _Heard(notifier.watchdog_seconds)
    published = Published(settings, documents=documents, stalled=heard.stalled)
    runner = web.AppRunner(
        create_app(published),
        handle_signals=False,
        access_log=log if settings.access_log else None,
        shutdown_timeout=_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    following: asyncio.Task[None] | None = None
    try:
        site = Listener(runner, settings, published.metrics)  # bounded: see listener.py
        await site.start()  # until the first site is rendered, requests are answered 503
        host, port = runner.addresses[0][:2]
        if settings.port == 0:  # links in the feeds must name the port actually bound
            settings = dataclasses.replace(settings, port=port)
            published.settings = settings
        log.info("listening on http://%s:%d/ (watching %s)", host, port, settings.seeds)
        channel.send(writer, channel.Configure(settings))
        following = asyncio.create_task(_follow(reader, published, documents, notifier, heard))

        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)

        def reload() -> None:
            notifier.reloading()
            new = _reloaded(published.settings, reload_settings)
            if new is None:
                notifier.notify("READY=1")  # or systemd would wait on "reloading" for ever
                return
            published.settings = new
            documents.forget()
            heard.reloads += 1  # READY=1 once the publishing process says they are in effect
            channel.send(writer, channel.Configure(new))

        loop.add_signal_handler(signal.SIGHUP, reload)
        watchdog = asyncio.create_task(notifier.watchdog(lambda: not heard.stalled()))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((following, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if following.done():
            log.error("the publishing process ended; stopping")
            code = 1
        else:
            log.info("stopping: finishing requests in flight")
            code = 0
        notifier.stopping()
        watchdog.cancel()
        await asyncio.gather(watchdog, stopping, return_exceptions=True)
    finally:
        # The publishing process saves its cache, then closes the channel; meanwhile the
        # server finishes the requests in flight. `_reap` kills it if it overruns.
        deadline = loop.time() + _PUBLISHING_STOP_SECONDS
        channel.send(writer, channel.Stop())
        await runner.cleanup()
        if following is not None:
            try:
                await asyncio.wait_for(following, max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("the publishing process did not stop in time")
        writer.close()
    return code


class _Heard:
    """When the publishing process was last heard from, and the reloads it has not confirmed."""

    def __init__(self, watchdog_seconds: float | None) -> None:
        self.at = time.monotonic()
        self.reloads = 0
        # With a watchdog, stalled soon enough that systemd restarts the service within
        # WatchdogSec of the stall (the pings come every half of it).
        # Never within a few of its beats, though: a busy machine may delay one.
        after = (
            min(_STALLED_SECONDS, watchdog_seconds / 2) if watchdog_seconds else _STALLED_SECONDS
        )
        self._after = max(after, 3 * channel.ALIVE_SECONDS)

    def stalled(self) -> bool:
        return time.monotonic() - self.at > self._after


async def _follow(
    reader: asyncio.StreamReader,
    published: Published,
    documents: channel.RemoteDocuments,
    notifier: Notifier,
    heard: _Heard,
) -> None:
    """Take in what the publishing process sends until it closes the channel: answers to
    asks, and new sites, each swapped in whole (the one place a new site goes live)."""
    ready = False
    while (message := await channel.receive(reader)) is not None:
        heard.at = time.monotonic()
        if isinstance(message, channel.Answer):
            documents.answered(message)
            continue
        if isinstance(message, channel.Alive):
            continue
        if isinstance(message, channel.Reloaded):
            heard.reloads = max(0, heard.reloads - 1)
            if heard.reloads == 0 and published.site is not None:
                notifier.ready(f"serving {published.site.articles} articles")
            continue
        assert isinstance(message, channel.NewSite)
        published.site = site = message.after(published.site)
        counts = message.counts
        if counts is None:  # served before its gzip is ready: the rest waits for the whole
            continue
        metrics = published.metrics
        metrics.rescans += counts.rescanned
        if counts.changed or counts.new_rejections:
            metrics.updates += 1
            if counts.first_event is not None:
                metrics.observe_latency(time.monotonic() - counts.first_event)
        if not ready:
            ready = True
            notifier.ready(f"serving {site.articles} articles")
        else:
            notifier.status(f"serving {site.articles} articles")
    documents.closed()


def _reap(child: int) -> None:
    """End the publishing process: it has ended by itself once the channel is closed, unless
    it is stuck (stopped, say), and then it is killed."""
    if os.waitpid(child, os.WNOHANG) != (0, 0):
        return
    log.warning("the publishing process is still running; killing it")
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)


def _reloaded(current: Settings, reload_settings: Callable[[], Settings]) -> Settings | None:
    try:
        new = reload_settings()
    except SettingsError as error:
        log.error("reload refused, keeping the running settings: %s", error)
        return None
    if new.port == 0:  # "any free port" was resolved at startup: keep the one bound
        new = dataclasses.replace(new, port=current.port)
    fixed = {key: getattr(current, key) for key in _FIXED_UNTIL_RESTART}
    changed = [key for key, value in fixed.items() if getattr(new, key) != value]
    if changed:
        log.warning("%s: changes take effect at the next restart", ", ".join(changed))
        new = dataclasses.replace(new, **fixed)
    log.info("settings reloaded; rescanning %s", new.seeds)
    return new
