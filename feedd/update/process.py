"""`feedd serve`'s update process: the watcher, the updater and what follows a new site (the
static copy, the WebSub hubs, the documents built on demand), sending each site to the server
over the channel (`serve/channel.py`) until the server says stop or goes away."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path

from feedd import urls
from feedd.config import Settings
from feedd.library.candidates import Candidates
from feedd.publish.mirror import Mirror
from feedd.publish.websub import HubNotifier, changed_feeds
from feedd.render.site import Resource, Site
from feedd.serve import channel
from feedd.serve.ondemand import UNAVAILABLE, Documents, Lookup
from feedd.update.updater import Update, Updater
from feedd.update.watch import FolderWatcher

log = logging.getLogger(__name__)

# Readers' requests go first: the server's event loop gets the cores before this process's
# parsing and rendering whenever both want them.
NICE = 10
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(ours: socket.socket, settings: Settings) -> int:
    """The process's body, in the child the server forked. Signals are the server's to act on
    (one sent to the whole cgroup or group reaches this process too): it says stop over the
    channel."""
    # A process group of its own: what it starts (the readers' fork server, their workers)
    # ends with it when the server is gone, whatever state each is in.
    os.setpgid(0, 0)
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    try:
        os.nice(NICE)  # (before any thread: a thread keeps the priority it was made with)
    except OSError as error:
        log.warning("updating at the server's priority: %s", error)
    return asyncio.run(_update(ours, settings))


async def _update(ours: socket.socket, settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    for signum in _SIGNALS:  # handled, not ignored: the workers it forks take them by default
        loop.add_signal_handler(signum, lambda: None)
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=channel.READ_LIMIT)
    documents = Documents(settings)
    hubs = HubNotifier(settings.hubs)
    site: Site | None = None
    sent: dict[str, Resource] = {}
    announced: Site | None = None
    watcher: FolderWatcher  # made below, once the updater it feeds is
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

    def take(update: Update) -> None:
        """On the loop: the one place a new site goes out."""
        nonlocal site, watching
        site = update.site
        if update.relisted:
            watcher.restart()
        counts = channel.Counts(
            len(update.changed), len(update.new_rejections), update.rescanned, update.first_event
        )
        channel.send(writer, channel.NewSite.of(site, sent, counts))
        if mirror is not None:
            mirror.publish(site, update.changed, settings)
        else:
            announce(site)
        if not watching:
            watching = True
            watcher.start()  # its setup rescans: what the first scan missed comes then

    async def answer(find: channel.Find) -> None:
        found: Lookup = None
        try:
            if site is not None:
                found = await documents.find(site, find.path)
        except Exception:  # a bug: the request it answers must not wait for ever
            log.exception("cannot build %s", find.path)
            found = UNAVAILABLE
        channel.send(writer, channel.Answer(find.ask, found))

    def reload(new: Settings) -> None:
        nonlocal settings, documents, hubs, watcher
        settings, documents = new, Documents(new)
        if new.hubs != hubs.hubs:
            closing = asyncio.ensure_future(hubs.close())
            tasks.add(closing)
            closing.add_done_callback(tasks.discard)
            hubs = HubNotifier(new.hubs)
            hubs.start()
        updater.reload(new)
        if os.path.realpath(new.seeds) != watcher.root:
            old, watcher = watcher, _watcher(new, updater)
            if watching:
                watcher.start()
            stopping = loop.run_in_executor(None, old.stop)
            tasks.add(stopping)
            stopping.add_done_callback(tasks.discard)

    def reloaded() -> None:
        """From the updater thread: the reload's update is done with."""
        loop.call_soon_threadsafe(channel.send, writer, channel.Reloaded())

    tasks: set[asyncio.Future[None]] = set()
    hubs.start()
    if mirror is not None:
        mirror.start()
    updater = Updater(
        settings,
        lambda update: loop.call_soon_threadsafe(take, update),
        rescanned_soon=True,  # by the watcher, once the first site is out
        on_reloaded=reloaded,
    )
    # Started once the first site is out (in `take`): its setup ends in a rescan, which then
    # checks what the first scan published (from the cache, say) instead of repeating it.
    watcher = _watcher(settings, updater)
    updater.start()

    async def beat() -> None:
        while updater.alive():
            channel.send(writer, channel.Alive())
            await asyncio.sleep(channel.ALIVE_SECONDS)
        log.error("the updater thread ended")

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
        else:
            # The server is gone (killed): nobody is served what this process would do, and
            # nothing else would end it or what it started (a worker being made at that moment
            # may wait for ever). The cache is a hint; the next start checks it.
            log.warning("the server is gone; stopping at once")
            os.killpg(0, signal.SIGKILL)
            return 1  # (not reached: the kill takes this process too)
    finally:
        heart.cancel()
    try:
        await hubs.close()
        await asyncio.to_thread(watcher.stop)
        await asyncio.to_thread(updater.stop)  # saves the cache
        if mirror is not None:
            await asyncio.to_thread(mirror.stop)
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        writer.close()
    return 0


def _watcher(settings: Settings, updater: Updater) -> FolderWatcher:
    root = os.path.realpath(settings.seeds)
    return FolderWatcher(
        root,
        settings.debounce_ms,
        on_paths=updater.changed,
        on_rescan=updater.rescan,
        is_candidate=Candidates(root, settings.include).is_candidate_path,
    )
