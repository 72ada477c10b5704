"""The channel between `feedd serve`'s two processes: the server and the update process.

The update process watches, parses and renders, and sends each new site's documents to the
server, which answers readers from them. Apart, they share no GIL: a burst of files costs the
update process seconds of Python, and the server's event loop waits for none of it. What a
site builds on demand (article pages, archive pages, sources' feeds) is built where the
entries are, in the update process, and asked for by URL path.

Messages are pickled, each after its length, over a socket pair only the two processes hold.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from feedd.config import Settings
from feedd.render.site import Resource, Site
from feedd.serve.ondemand import UNAVAILABLE, Lookup

_LENGTH = struct.Struct("<I")
# A site's documents are at most a few megabytes: a reader's buffer of this size takes one in
# a few reads.
READ_LIMIT = 1 << 22
ALIVE_SECONDS = 1.0


# --- from the server ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Configure:
    """The settings to publish with from now on, at each reload (the first come with the
    fork)."""

    settings: Settings


@dataclass(frozen=True, slots=True)
class Find:
    """Asks for the document at `path`, built on demand; answered by an `Answer` of `ask`."""

    ask: int
    path: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


# --- from the update process ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alive:
    """Sent every `ALIVE_SECONDS` while the update process's loop runs and its updater
    thread lives: the server stops the watchdog's pings and `/healthz` says "stalled" when
    these stop coming."""


@dataclass(frozen=True, slots=True)
class Reloaded:
    """The settings of the last `Configure` are in effect: the site sent before this was
    made with them (or the update that would have made it failed, and was logged)."""


@dataclass(frozen=True, slots=True)
class Answer:
    ask: int
    found: Lookup


@dataclass(frozen=True, slots=True)
class Counts:
    """What an update did, for `/metrics`."""

    changed: int
    new_rejections: int
    rescanned: bool
    first_event: float | None  # time.monotonic() of its oldest event: one clock for both


@dataclass(frozen=True, slots=True)
class NewSite:
    """A site to serve, as what changed since the one sent before it: a site's documents are
    mostly the same objects from one update to the next, and unchanged ones are not sent."""

    resources: Mapping[str, Resource]  # new or changed
    gone: tuple[str, ...]
    articles: int
    rejected: int
    updated: datetime | None
    checked: bool
    newest_archive: str | None
    counts: Counts

    @classmethod
    def of(cls, site: Site, sent: dict[str, Resource], counts: Counts) -> NewSite:
        """`site` as what changed since `sent`, the documents last sent (updated to `site`'s)."""
        changed = {path: r for path, r in site.resources.items() if sent.get(path) is not r}
        gone = tuple(path for path in sent if path not in site.resources)
        sent.update(changed)
        for path in gone:
            del sent[path]
        return cls(
            changed,
            gone,
            site.articles,
            site.rejected,
            site.updated,
            site.checked,
            site.newest_archive,
            counts,
        )

    def after(self, previous: Site | None) -> Site:
        """The site this makes of `previous`, the one sent before it."""
        resources = dict(previous.resources) if previous is not None else {}
        resources.update(self.resources)
        for path in self.gone:
            resources.pop(path, None)
        return Site.create(
            resources,
            articles=self.articles,
            rejected=self.rejected,
            updated=self.updated,
            checked=self.checked,
            newest_archive=self.newest_archive,
        )


# --- both --------------------------------------------------------------------------------------


def send(writer: asyncio.StreamWriter, message: object) -> None:
    """Queue `message` on `writer`; a closed channel takes it silently (its reader ends)."""
    if writer.is_closing():
        return
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_LENGTH.pack(len(data)))
    writer.write(data)


async def receive(reader: asyncio.StreamReader) -> object | None:
    """The next message; None once the other process closed the channel (or is gone)."""
    try:
        (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        message: object = pickle.loads(await reader.readexactly(length))  # noqa: S301 (ours)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return message


class RemoteDocuments:
    """The server's way to what the update process builds on demand (see `app.Finder`).

    Concurrent requests for one path wait for one answer (twenty clients asking for a page of
    megabytes at once would otherwise take in twenty copies of it), and answers are kept for
    the site being served: a page asked for again costs no round trip until the next site
    comes (the update process keeps them longer, by what they are made of)."""

    def __init__(self, writer: asyncio.StreamWriter, size: int = 256) -> None:
        self._writer = writer
        self._size = size
        self._asks = itertools.count()
        self._waiting: dict[int, tuple[str, Site, asyncio.Future[Lookup]]] = {}
        self._asking: dict[str, asyncio.Future[Lookup]] = {}
        self._site: Site | None = None
        self._kept: OrderedDict[str, Resource] = OrderedDict()
        self._closed = False

    async def find(self, site: Site, path: str) -> Lookup:
        if site is not self._site:
            # A new site: what was asked for the old one may be answered as it was then.
            self._site = site
            self._kept.clear()
            self._asking.clear()
        kept = self._kept.get(path)
        if kept is not None:
            self._kept.move_to_end(path)
            return kept
        if self._closed:
            return UNAVAILABLE
        future = self._asking.get(path)
        if future is None:
            future = self._asking[path] = asyncio.get_running_loop().create_future()
            ask = next(self._asks)
            self._waiting[ask] = (path, site, future)
            send(self._writer, Find(ask, path))
        return await asyncio.shield(future)  # a request given up on leaves it to the others

    def forget(self) -> None:
        """Drop what is kept and what is being asked for (the settings changed)."""
        self._kept.clear()
        self._asking.clear()

    def answered(self, answer: Answer) -> None:
        waiting = self._waiting.pop(answer.ask, None)
        if waiting is None:
            return
        path, site, future = waiting
        if self._asking.get(path) is future:
            del self._asking[path]
        found = answer.found
        if isinstance(found, Resource) and site is self._site:
            self._kept[path] = found
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        future.set_result(found)

    def closed(self) -> None:
        """The update process is gone: what waits for it is unavailable."""
        self._closed = True
        for _path, _site, future in self._waiting.values():
            future.set_result(UNAVAILABLE)
        self._waiting.clear()
        self._asking.clear()
