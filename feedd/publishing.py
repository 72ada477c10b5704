"""`feedd serve`'s publishing process: the watcher, the publisher and what follows a new site
(the static copy, the WebSub hubs, the documents built on demand), sending each site to the
server over the channel (see `channel.py`) until the server says stop or goes away."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path

from feedd import channel, urls
from feedd.candidates import Candidates
from feedd.config import Settings
from feedd.mirror import Mirror
from feedd.ondemand import UNAVAILABLE, Documents, Found
from feedd.publisher import FirstScan, Publisher, Update
from feedd.site import Resource, Site
from feedd.watch import FolderWatcher
from feedd.websub import HubNotifier, changed_feeds

log = logging.getLogger(__name__)

# The server's event loop and the readers' requests go first: with 10,000 files landing under
# wrk's load, p99 was 1.19x to 1.47x the idle p99 at nice 10 against 1.43x to 2.47x at 0 (and
# 3.2x to 4.9x with publishing in the server's process), the burst published in 3.3 to 4.7 s
# after its first file against 2.0 to 3.2 s. A lone update is as fast: idle cores wait for no one.
NICE = 10
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(ours: socket.socket, settings: Settings) -> int:
    """The process's body, in the child forked by the server with its `settings`. Signals are
    the server's to act on (systemd and a terminal signal both processes): it says stop over
    the channel. The first scan starts at once (see `FirstScan`)."""
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    try:
        os.nice(NICE)  # (before any thread: a thread keeps the priority it was made with)
    except OSError as error:
        log.warning("publishing at the server's priority: %s", error)
    first_scan = FirstScan(settings, checked_later=True)  # (the watcher's setup rescans)
    return asyncio.run(_publish(ours, first_scan))


async def _publish(ours: socket.socket, first_scan: FirstScan) -> int:
    loop = asyncio.get_running_loop()
    for signum in _SIGNALS:  # handled, not ignored: the workers it forks take them by default
        loop.add_signal_handler(signum, lambda: None)
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=channel.READ_LIMIT)
    first = await channel.receive(reader)
    if not isinstance(first, channel.Configure):
        return 0  # the server stopped before it could listen
    settings = first.settings
    documents = Documents(settings)
    hubs = HubNotifier(settings.hubs)
    site: Site | None = None
    sent: dict[str, Resource] = {}
    announced: Site | None = None
    watcher: FolderWatcher  # made below, once the publisher it feeds is
    watching = False

    def announce(site: Site) -> None:
        """Ping the hubs for the feeds that changed since the last ping."""
        nonlocal announced
        if hubs.hubs:
            topics = changed_feeds(announced, site)
            hubs.announce(urls.absolute(settings, path) for path in topics)
        announced = site

    # With a static copy, hubs are pinged once it holds the new feeds: subscribers fetch
    # them from there (nginx, a CDN), and would get the old ones if pinged sooner.
    mirror = (
        Mirror(Path(settings.publish), on_written=lambda s: loop.call_soon_threadsafe(announce, s))
        if settings.publish
        else None
    )

    def swap(update: Update) -> None:
        """On the loop: the one place a new site goes out."""
        nonlocal site, watching
        site = update.site
        if update.relisted:
            watcher.restart()
        counts = channel.Counts(
            len(update.changed),
            len(update.new_rejections),
            update.rescanned,
            update.first_event,
        )
        channel.send(writer, channel.NewSite.of(site, sent, counts))
        if mirror is not None:
            mirror.publish(site, update.changed, settings)
        else:
            announce(site)
        if not watching:
            watching = True
            watcher.start()  # its setup rescans: what the first scan missed comes then

    def serve_early(early: Site) -> None:
        """On the loop: an update's site before its gzip is ready (see `Renderer.site`)."""
        nonlocal site
        site = early
        channel.send(writer, channel.NewSite.of(early, sent, None))

    async def answer(find: channel.Find) -> None:
        finder = documents
        found: Found = None
        try:
            if site is not None:
                found = await finder.find(site, find.path)
        except Exception:  # a bug: the request it answers must not wait for ever
            log.exception("cannot build %s", find.path)
            found = UNAVAILABLE
        channel.send(writer, channel.Answer(find.ask, found))

    def reload(new: Settings) -> None:
        nonlocal settings, documents, hubs, watcher
        settings, documents = new, Documents(new)
        if new.hubs != hubs.hubs:
            tasks.add(asyncio.ensure_future(hubs.close()))
            hubs = HubNotifier(new.hubs)
            hubs.start()
        publisher.reload(new)
        if os.path.realpath(new.seeds) != watcher.root:
            old, watcher = watcher, _watcher(new, publisher)
            if watching:
                watcher.start()
            tasks.add(loop.run_in_executor(None, old.stop))

    def reloaded() -> None:
        """From the publisher thread: the reload's update is done with."""
        loop.call_soon_threadsafe(channel.send, writer, channel.Reloaded())

    tasks: set[asyncio.Future[None]] = set()
    hubs.start()
    if mirror is not None:
        mirror.start()
    publisher = Publisher(
        settings,
        lambda update: loop.call_soon_threadsafe(swap, update),
        lambda site: loop.call_soon_threadsafe(serve_early, site),
        rescanned_soon=True,  # by the watcher, once the first site is out
        first_scan=first_scan,
        on_reloaded=reloaded,
    )
    # Started once the first site is out (in `swap`): watchfiles' inotify watches report
    # every open of a file, and the first scan opens them all.
    watcher = _watcher(settings, publisher)
    publisher.start()

    async def beat() -> None:
        while publisher.alive():
            channel.send(writer, channel.Alive())
            await asyncio.sleep(channel.ALIVE_SECONDS)
        log.error("the publisher thread ended")

    heart = asyncio.create_task(beat())
    try:
        while (message := await channel.receive(reader)) is not None:
            if isinstance(message, channel.Find):
                task = asyncio.ensure_future(answer(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif isinstance(message, channel.Configure):
                reload(message.settings)
            elif isinstance(message, channel.Stop):
                break
    finally:
        heart.cancel()
        await hubs.close()
        await asyncio.to_thread(watcher.stop)
        await asyncio.to_thread(publisher.stop)  # saves the cache
        if mirror is not None:
            await asyncio.to_thread(mirror.stop)
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
    return 0


def _watcher(settings: Settings, publisher: Publisher) -> FolderWatcher:
    root = os.path.realpath(settings.seeds)
    return FolderWatcher(
        root,
        settings.debounce_ms,
        on_paths=publisher.changed,
        on_rescan=publisher.rescan,
        is_candidate=Candidates(root, settings.include).is_candidate_path,
    )
