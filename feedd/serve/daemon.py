"""`feedd serve`: the HTTP server and its update process, under systemd's eye."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from feedd.config import Settings, SettingsError
from feedd.serve import channel
from feedd.serve.systemd import Notifier

if TYPE_CHECKING:
    from feedd.serve.app import ServerState

log = logging.getLogger(__name__)

# A stop must fit well inside the unit's TimeoutStopSec=20, whatever state the update process
# is in: requests in flight get this long to finish...
_SHUTDOWN_SECONDS = 3
# ...the update process this long from the stop (those requests included) to save its cache
# and close the channel...
_UPDATE_STOP_SECONDS = 10
# ...and then this long to exit, after which it is killed.
_EXIT_SECONDS = 1
# The update process is stalled when nothing came from it for this long (it says it is alive
# every `channel.ALIVE_SECONDS`); with a watchdog, at most half its interval.
_STALLED_SECONDS = 10.0
# Settings the listening socket, the connection handler or the static copy took at startup.
_FIXED_UNTIL_RESTART = ("host", "port", "publish", "keepalive_timeout", "send_timeout")


def run(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the settings and rescans.

    Two processes: this one serves, and a child forked here updates the site (see
    `channel.py` for why). Forked before anything runs, so it starts with no thread and no
    event loop, and before this one loads aiohttp, which only it needs: the child reads the
    folder meanwhile."""
    from feedd.serve.listener import listening_socket

    if not settings.seeds.is_dir():
        log.error("%s: not a folder", settings.seeds)
        return 2
    try:
        listener = listening_socket(settings)
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, error.strerror)
        return 1
    if settings.port == 0:  # links in the feeds must name the port actually bound
        settings = dataclasses.replace(settings, port=listener.getsockname()[1])
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        listener.close()
        code = 1
        try:
            from feedd.update import process

            code = process.run(theirs, settings)
        except BaseException:
            log.exception("the update process failed")
        finally:
            logging.shutdown()
            os._exit(code)
    theirs.close()
    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            return runner.run(_serve(settings, reload_settings, ours, listener))
    finally:
        listener.close()
        ours.close()
        _reap(child)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (its I/O runs in C), asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(
    settings: Settings,
    reload_settings: Callable[[], Settings],
    ours: socket.socket,
    listener: socket.socket,
) -> int:
    from aiohttp import web

    from feedd.serve.app import ServerState, create_app

    loop = asyncio.get_running_loop()
    notifier = Notifier(os.environ)
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=channel.READ_LIMIT)
    documents = channel.RemoteDocuments(writer)
    heard = _Heard(notifier.watchdog_seconds)
    state = ServerState(settings, documents=documents, stalled=heard.stalled)
    runner = web.AppRunner(
        create_app(state),
        handle_signals=False,
        access_log=log if settings.access_log else None,
        shutdown_timeout=_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    following: asyncio.Task[None] | None = None
    code = 1
    try:
        # Until the first site is rendered, requests are answered 503.
        await web.SockSite(runner, listener).start()
        host, port = runner.addresses[0][:2]
        log.info("listening on http://%s:%d/ (watching %s)", host, port, settings.seeds)
        following = asyncio.create_task(_follow(reader, state, documents, notifier, heard))

        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)

        def reload() -> None:
            notifier.reloading()
            new = _reloaded(state.settings, reload_settings)
            if new is None:
                notifier.notify("READY=1")  # or systemd would wait on "reloading" for ever
                return
            state.settings = new
            documents.forget()
            heard.reloads += 1  # READY=1 once the update process says they are in effect
            channel.send(writer, channel.Configure(new))

        loop.add_signal_handler(signal.SIGHUP, reload)
        watchdog = asyncio.create_task(notifier.watchdog(lambda: not heard.stalled()))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait((following, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if following.done():
            log.error("the update process ended; stopping")
        else:
            log.info("stopping: finishing requests in flight")
            code = 0
        notifier.stopping()
        watchdog.cancel()
        await asyncio.gather(watchdog, stopping, return_exceptions=True)
    finally:
        # The requests in flight finish first (a page may still be built for one by the
        # update process); then it saves its cache and closes the channel. `_reap` kills it
        # if it overruns.
        deadline = loop.time() + _UPDATE_STOP_SECONDS
        await runner.cleanup()
        channel.send(writer, channel.Stop())
        if following is not None:
            try:
                await asyncio.wait_for(following, max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("the update process did not stop in time")
        writer.close()
    return code


class _Heard:
    """When the update process was last heard from, and the reloads it has not confirmed."""

    def __init__(self, watchdog_seconds: float | None) -> None:
        self.at = time.monotonic()
        self.reloads = 0
        # With a watchdog, stalled soon enough that systemd restarts the service within
        # WatchdogSec and a half of the stall (the pings come every half of it); never within
        # a few beats, though: a busy machine may delay one.
        after = (
            min(_STALLED_SECONDS, watchdog_seconds / 2) if watchdog_seconds else _STALLED_SECONDS
        )
        self._after = max(after, 3 * channel.ALIVE_SECONDS)

    def stalled(self) -> bool:
        return time.monotonic() - self.at > self._after


async def _follow(
    reader: asyncio.StreamReader,
    state: ServerState,
    documents: channel.RemoteDocuments,
    notifier: Notifier,
    heard: _Heard,
) -> None:
    """Take in what the update process sends until it closes the channel: answers to asks,
    and new sites, each swapped in whole (the one place a new site goes live)."""
    while (message := await channel.receive(reader)) is not None:
        heard.at = time.monotonic()
        if isinstance(message, channel.Answer):
            documents.answered(message)
            continue
        if isinstance(message, channel.Alive):
            continue
        if isinstance(message, channel.Reloaded):
            heard.reloads = max(0, heard.reloads - 1)
            if heard.reloads == 0 and state.site is not None:
                notifier.ready(f"serving {state.site.articles} articles")
            continue
        assert isinstance(message, channel.NewSite)
        first = state.site is None
        state.site = site = message.after(state.site)
        counts = message.counts
        metrics = state.metrics
        metrics.rescans += counts.rescanned
        if counts.changed or counts.new_rejections:
            metrics.updates += 1
            if counts.first_event is not None:
                metrics.observe_latency(time.monotonic() - counts.first_event)
        if first:
            notifier.ready(f"serving {site.articles} articles")
        else:
            notifier.status(f"serving {site.articles} articles")
    documents.closed()


def _reap(child: int) -> None:
    """End the update process: it ends by itself moments after it closes the channel, unless
    it is stuck (stopped, say), and then it is killed."""
    pidfd = os.pidfd_open(child)  # readable once the process has ended
    try:
        select.select([pidfd], [], [], _EXIT_SECONDS)
    finally:
        os.close(pidfd)
    if os.waitpid(child, os.WNOHANG) != (0, 0):
        return
    log.warning("the update process is still running; killing it")
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
