"""`feedd serve`: the watcher, the publisher and the HTTP server, under systemd's eye."""

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
from feedd.candidates import Candidates
from feedd.config import Settings, SettingsError
from feedd.library import article_loader
from feedd.listener import Listener
from feedd.listings import ListingRenderer
from feedd.mirror import Mirror
from feedd.publisher import Publisher, Update
from feedd.render import PageRenderer
from feedd.server import ListingCache, PageCache, Published, create_app
from feedd.site import Site
from feedd.systemd import Notifier
from feedd.watch import FolderWatcher
from feedd.websub import HubNotifier, changed_feeds

log = logging.getLogger(__name__)

_SHUTDOWN_SECONDS = 10
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
    """Serve until SIGTERM or SIGINT; SIGHUP re-reads the settings and rescans."""
    if not settings.seeds.is_dir():
        log.error("%s: not a folder", settings.seeds)
        return 2
    # Hand the GIL over every 0.1 ms instead of 5: the publisher thread renders while the loop
    # answers requests. The loop lets go of the GIL at every system call (asyncio's at each
    # send; uvloop's once a callback), and then waits up to a whole interval to get it back
    # from a busy publisher: p99 while 10,000 files landed was 3.2 to 4.0x idle at 0.5 ms, 2.4
    # to 2.5x at 0.1 ms, on asyncio's loop, for the same throughput and file-to-feed latency
    # (0.05 ms was no better).
    sys.setswitchinterval(0.0001)
    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            return runner.run(_serve(settings, reload_settings))
    except OSError as error:
        log.error("cannot serve on %s:%d: %s", settings.host, settings.port, error.strerror)
        return 1


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: its I/O runs in C, and holds the GIL once a request where
    asyncio's takes it back after each system call. 8-11% more requests a second for full,
    gzip and 304 answers alike; asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    loop = asyncio.get_running_loop()
    notifier = Notifier(os.environ)
    published = Published(settings)
    _on_demand(published, settings)
    first_site = asyncio.Event()
    hubs = HubNotifier(settings.hubs)
    announced: Site | None = None

    def announce(site: Site) -> None:
        """On the loop: ping the hubs for the feeds that changed since the last ping."""
        nonlocal announced
        if hubs.hubs:
            topics = changed_feeds(announced, site)
            hubs.announce(urls.absolute(published.settings, path) for path in topics)
        announced = site

    # With a static copy, hubs are pinged once it holds the new feeds: subscribers fetch
    # them from there (nginx, a CDN), and would get the old ones if pinged sooner.
    mirror = (
        Mirror(Path(settings.publish), on_written=lambda s: loop.call_soon_threadsafe(announce, s))
        if settings.publish
        else None
    )

    def swap(update: Update) -> None:
        """On the loop: the one place a new site goes live."""
        published.site = update.site
        if update.relisted and watcher is not None:
            watcher.restart()
        if mirror is not None:
            mirror.publish(update.site, update.changed, published.settings)
        else:
            announce(update.site)
        metrics = published.metrics
        metrics.rescans += update.rescanned
        if update.changed or update.new_rejections:
            metrics.updates += 1
            if update.first_event is not None:
                metrics.observe_latency(time.monotonic() - update.first_event)
        if not first_site.is_set():
            first_site.set()
            if watcher is not None:
                watcher.start()  # its setup rescans: what the first scan missed comes then
            notifier.ready(f"serving {update.site.articles} articles")
        else:
            notifier.status(f"serving {update.site.articles} articles")

    def serve_early(site: Site) -> None:
        """On the loop: an update's site before its gzip is ready (see `Renderer.site`). The
        hubs, the static copy and the metrics wait for the whole one, in `swap`."""
        published.site = site

    runner = web.AppRunner(
        create_app(published),
        handle_signals=False,
        access_log=log if settings.access_log else None,
        shutdown_timeout=_SHUTDOWN_SECONDS,
    )
    await runner.setup()
    publisher: Publisher | None = None
    watcher: FolderWatcher | None = None
    try:
        site = Listener(runner, settings, published.metrics)  # bounded: see listener.py
        await site.start()  # until the first site is rendered, requests are answered 503
        host, port = runner.addresses[0][:2]
        if settings.port == 0:  # links in the feeds must name the port actually bound
            settings = dataclasses.replace(settings, port=port)
            _on_demand(published, settings)
        log.info("listening on http://%s:%d/ (watching %s)", host, port, settings.seeds)

        hubs.start()
        if mirror is not None:
            mirror.start()
        publisher = Publisher(
            settings,
            lambda update: loop.call_soon_threadsafe(swap, update),
            lambda site: loop.call_soon_threadsafe(serve_early, site),
            rescanned_soon=True,  # by the watcher, once the first site is out
        )
        # Started once the first site is out (in `swap`): watchfiles' inotify watches report
        # every open of a file, and the first scan opens them all.
        watcher = _watcher(settings, publisher)
        publisher.start()

        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)

        stopping: set[asyncio.Future[None]] = set()  # old watchers, joined off the loop

        def reload() -> None:
            nonlocal watcher, hubs
            assert watcher is not None and publisher is not None
            notifier.reloading()
            try:
                new = _reloaded(published.settings, reload_settings)
                if new is not None:
                    _on_demand(published, new)
                    if new.hubs != hubs.hubs:
                        stopping.add(asyncio.ensure_future(hubs.close()))
                        hubs = HubNotifier(new.hubs)
                        hubs.start()
                    publisher.reload(new)
                    if os.path.realpath(new.seeds) != watcher.root:
                        old, watcher = watcher, _watcher(new, publisher)
                        if first_site.is_set():
                            watcher.start()
                        stopping.add(loop.run_in_executor(None, old.stop))
            finally:
                notifier.notify("READY=1")  # or systemd would wait on "reloading" for ever

        loop.add_signal_handler(signal.SIGHUP, reload)
        watchdog = asyncio.create_task(notifier.watchdog())
        await stop.wait()

        log.info("stopping: finishing requests in flight")
        notifier.stopping()
        watchdog.cancel()
        await asyncio.gather(watchdog, *stopping, return_exceptions=True)
    finally:
        await hubs.close()
        await runner.cleanup()
        if watcher is not None:
            await asyncio.to_thread(watcher.stop)
        if publisher is not None:
            await asyncio.to_thread(publisher.stop)
        if mirror is not None:
            await asyncio.to_thread(mirror.stop)
    return 0


def _on_demand(published: Published, settings: Settings) -> None:
    """Settings, and the caches of documents built on demand with them (a reload empties them)."""
    load = article_loader(settings)
    published.settings = settings
    published.pages = PageCache(PageRenderer(settings, load))
    published.listings = ListingCache(ListingRenderer(settings, load), size=256)


def _watcher(settings: Settings, publisher: Publisher) -> FolderWatcher:
    root = os.path.realpath(settings.seeds)
    return FolderWatcher(
        root,
        settings.debounce_ms,
        on_paths=publisher.changed,
        on_rescan=publisher.rescan,
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
