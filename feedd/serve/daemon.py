"""`feedd serve`: the HTTP server, the watcher and the updater, under systemd's eye."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from feedd import urls
from feedd.config import Settings, SettingsError
from feedd.library.candidates import Candidates
from feedd.publish.mirror import Mirror
from feedd.publish.websub import HubNotifier, changed_feeds
from feedd.render.site import Site
from feedd.serve.app import ServerState, create_app
from feedd.serve.listener import listening_socket
from feedd.serve.ondemand import Documents
from feedd.serve.systemd import Notifier
from feedd.update.updater import Update, Updater
from feedd.update.watch import FolderWatcher

log = logging.getLogger(__name__)

# A stop must fit well inside the unit's TimeoutStopSec=20: requests in flight get this long
# to finish, and the updater as long again to save the cache.
_SHUTDOWN_SECONDS = 3
_UPDATER_STOP_SECONDS = 10
# Settings the listening socket, the connection handler or the mirror took at startup.
_FIXED_UNTIL_RESTART = (
    "host",
    "port",
    "publish",
    "keepalive_timeout",
    "send_timeout",
)


def run(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the settings and rescans."""
    if not settings.seeds.is_dir():
        log.error("%s: not a folder", settings.seeds)
        return 2
    # The updater thread parses and renders beside the event loop; the loop lets go of the
    # GIL at every system call, and would otherwise wait up to 5 ms to get it back.
    sys.setswitchinterval(0.0001)
    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            return runner.run(_serve(settings, reload_settings))
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, error.strerror)
        return 1


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (its I/O runs in C), asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    loop = asyncio.get_running_loop()
    notifier = Notifier(os.environ)
    state = ServerState(settings, documents=Documents(settings))
    runner = web.AppRunner(
        create_app(state),
        handle_signals=False,
        access_log=log if settings.access_log else None,
        shutdown_timeout=_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    updates: _Updates | None = None
    try:
        await web.SockSite(runner, listening_socket(settings)).start()
        # Until the first site is rendered, requests are answered 503.
        host, port = runner.addresses[0][:2]
        if settings.port == 0:  # links in the feeds must name the port actually bound
            settings = dataclasses.replace(settings, port=port)
            state.settings = settings
        log.info("listening on http://%s:%d/ (watching %s)", host, port, settings.seeds)
        updates = _Updates(state, notifier)
        updater = Updater(
            settings,
            lambda update: loop.call_soon_threadsafe(updates.take, update),
            rescanned_soon=True,  # by the watcher, once the first site is out
            on_reloaded=lambda: loop.call_soon_threadsafe(updates.reloaded),
        )
        state.stalled = lambda: not updater.alive()
        updates.start(updater)

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
            state.documents = Documents(new)
            updates.reload(new)  # READY=1 once the updater is done with the reload

        loop.add_signal_handler(signal.SIGHUP, reload)
        watchdog = asyncio.create_task(notifier.watchdog(updater.alive))
        await stop.wait()
        log.info("stopping: finishing requests in flight")
        notifier.stopping()
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
    finally:
        await runner.cleanup()
        if updates is not None:
            await updates.stop(_UPDATER_STOP_SECONDS)
    return 0


class _Updates:
    """What follows a new site from the updater, on the event loop: it is swapped in (the one
    place a new site goes live), counted, announced to systemd, the static copy and the WebSub
    hubs; and the watcher started once the first one is out."""

    def __init__(self, state: ServerState, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier
        self.settings = state.settings
        self.hubs = HubNotifier(self.settings.hubs)
        self.announced: Site | None = None
        self.mirror: Mirror | None = None
        self.watcher: FolderWatcher | None = None
        self.watching = False
        self.reloads = 0
        self.tasks: set[asyncio.Future[None]] = set()

    def start(self, updater: Updater) -> None:
        self.updater = updater
        loop = asyncio.get_running_loop()
        self.hubs.start()
        if self.settings.publish:
            # Hubs are pinged once the static copy holds the new feeds: subscribers fetch
            # them from there (nginx, a CDN), and would get the old ones if pinged sooner.
            self.mirror = Mirror(
                Path(self.settings.publish),
                on_written=lambda site: loop.call_soon_threadsafe(self.announce, site),
            )
            self.mirror.start()
        # Started once the first site is out (in `take`): inotify reports every open of a
        # file, and the first scan opens them all.
        self.watcher = _watcher(self.settings, updater)
        updater.start()

    def take(self, update: Update) -> None:
        state, site = self.state, update.site
        state.site = site
        metrics = state.metrics
        metrics.rescans += update.rescanned
        if update.changed or update.new_rejections:
            metrics.updates += 1
            if update.first_event is not None:
                metrics.observe_latency(time.monotonic() - update.first_event)
        if update.relisted and self.watcher is not None:
            self.watcher.restart()
        if self.mirror is not None:
            self.mirror.publish(site, update.changed, self.settings)
        else:
            self.announce(site)
        if not self.watching:
            self.watching = True
            self.notifier.ready(f"serving {site.articles} articles")
            assert self.watcher is not None
            self.watcher.start()  # its setup rescans: what the first scan missed comes then
        else:
            self.notifier.status(f"serving {site.articles} articles")

    def announce(self, site: Site) -> None:
        """Ping the hubs for the feeds that changed since the last ping."""
        if self.hubs.hubs:
            topics = changed_feeds(self.announced, site)
            self.hubs.announce(urls.absolute(self.settings, path) for path in topics)
        self.announced = site

    def reload(self, new: Settings) -> None:
        self.settings = new
        self.reloads += 1
        if new.hubs != self.hubs.hubs:
            self.tasks.add(asyncio.ensure_future(self.hubs.close()))
            self.hubs = HubNotifier(new.hubs)
            self.hubs.start()
        self.updater.reload(new)
        watcher = self.watcher
        if watcher is not None and os.path.realpath(new.seeds) != watcher.root:
            self.watcher = _watcher(new, self.updater)
            if self.watching:
                self.watcher.start()
            self.tasks.add(asyncio.get_running_loop().run_in_executor(None, watcher.stop))

    def reloaded(self) -> None:
        self.reloads = max(0, self.reloads - 1)
        site = self.state.site
        if self.reloads == 0 and site is not None:
            self.notifier.ready(f"serving {site.articles} articles")

    async def stop(self, timeout: float) -> None:
        """Stop the watcher, the updater (which saves the cache) and the copy, within
        `timeout` seconds: what has not stopped by then ends with the process."""
        await self.hubs.close()

        def stop_all() -> None:
            if self.watcher is not None:
                self.watcher.stop()
            self.updater.stop()
            if self.mirror is not None:
                self.mirror.stop()

        try:
            await asyncio.wait_for(asyncio.to_thread(stop_all), timeout)
        except TimeoutError:
            log.warning("the updater did not stop in %g s; the cache may be behind", timeout)
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _watcher(settings: Settings, updater: Updater) -> FolderWatcher:
    root = os.path.realpath(settings.seeds)
    return FolderWatcher(
        root,
        settings.debounce_ms,
        on_paths=updater.changed,
        on_rescan=updater.rescan,
        is_candidate=Candidates(root, settings.include).is_candidate_path,
    )


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
