"""Tell WebSub hubs when feeds change: the publisher side of W3C WebSub (section 7 leaves how
publishers ping hubs open; every hub in use takes `hub.mode=publish` with `hub.url`).

The daemon hands each new site's changed feeds to `HubNotifier.announce`. Each hub has its own
task: a burst of updates within `coalesce` seconds becomes one ping per feed, a failing hub is
retried with exponential backoff (newer changes ride along), and a slow or dead hub never holds
up serving or the other hubs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from feedd import __version__, urls
from feedd.render.site import Site

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 15.0, 60.0, 300.0)


def changed_feeds(old: Site | None, new: Site) -> set[str]:
    """URL paths of the feeds readers subscribe to whose content differs between two sites:
    the main feeds (Atom, RSS, JSON Feed) whose bytes changed, and the feeds of each source
    whose newest entries changed. Archive pages are nobody's subscription."""
    changed = set()
    for path in urls.MAIN_FEEDS.values():
        resource = new.resources.get(path)
        before = old.resources.get(path) if old is not None else None
        if resource is not None and (before is None or before.etag != resource.etag):
            changed.add(path)
    for slug, feed in new.sources.items():
        before_feed = old.sources.get(slug) if old is not None else None
        if before_feed is not feed and before_feed != feed:
            changed.update(f"{urls.SOURCES}{slug}{suffix}" for suffix in urls.FEED_SUFFIXES)
    return changed


class HubNotifier:
    """One task per hub; call `announce` on the loop, `close` before the loop ends."""

    def __init__(
        self,
        hubs: Sequence[str],
        *,
        coalesce: float = 1.0,
        backoff: Sequence[float] = _BACKOFF_SECONDS,
        timeout: float = 10.0,
    ) -> None:
        self.hubs = tuple(hubs)
        self._coalesce = coalesce
        self._backoff = tuple(backoff)
        self._timeout = timeout
        self._pending: dict[str, set[str]] = {hub: set() for hub in self.hubs}
        self._wake: dict[str, asyncio.Event] = {hub: asyncio.Event() for hub in self.hubs}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0  # pings a hub accepted
        self.failed = 0  # pings refused or not delivered (each is retried)

    def start(self) -> None:
        if not self.hubs:
            return
        # aiohttp's client loads only where there are hubs to ping: loading it (its SSL
        # context above all) would hold up the first scan.
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": f"feedd/{__version__} (WebSub)"},
        )
        self._tasks = [
            asyncio.create_task(self._run(hub), name=f"websub {hub}") for hub in self.hubs
        ]

    def announce(self, topics: Iterable[str]) -> None:
        """The absolute URLs of feeds that changed."""
        topics = set(topics)
        if not topics:
            return
        for hub in self.hubs:
            self._pending[hub] |= topics
            self._wake[hub].set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self, hub: str) -> None:
        failures = 0
        while True:
            await self._wake[hub].wait()
            await asyncio.sleep(self._coalesce)  # let a burst finish: one ping for all of it
            self._wake[hub].clear()
            topics, self._pending[hub] = self._pending[hub], set()
            undelivered = {topic for topic in sorted(topics) if not await self._ping(hub, topic)}
            if not undelivered:
                failures = 0
                continue
            self._pending[hub] |= undelivered
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            failures += 1
            log.info("retrying hub %s in %.0f s (%d feeds)", hub, delay, len(undelivered))
            await asyncio.sleep(delay)
            self._wake[hub].set()

    async def _ping(self, hub: str, topic: str) -> bool:
        """Whether the ping is done with: taken, or refused for good."""
        import aiohttp  # (loaded by `start`)

        assert self._session is not None
        form: Mapping[str, str] = {"hub.mode": "publish", "hub.url": topic}
        try:
            async with self._session.post(hub, data=form, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    self.sent += 1
                    log.debug("hub %s accepted %s", hub, topic)
                    return True
                if 400 <= response.status < 500 and response.status not in (408, 429):
                    # The hub refuses this feed (unknown to it, not allowed): asking again
                    # will not change its mind, and would hold up the feeds it does take.
                    self.failed += 1
                    log.warning(
                        "hub %s refused the update of %s (HTTP %d); not retrying it",
                        hub,
                        topic,
                        response.status,
                    )
                    return True
                reason = f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            reason = str(error) or type(error).__name__
        self.failed += 1
        log.warning("hub %s did not take the update of %s: %s", hub, topic, reason)
        return False
