"""Documents built on demand: article pages, archive pages and sources' feeds.

A `Site` holds ready only what every update changes (the index, the main feeds); the rest is
built when first asked for, off the event loop, and the most recently used kept.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final, Generic, Literal, TypeVar

from feedd.config import Settings
from feedd.library.entries import Entry
from feedd.library.library import article_loader
from feedd.render.listings import Listing, ListingRenderer, listing
from feedd.render.pages import PageRenderer
from feedd.render.site import Resource, Site

K = TypeVar("K", bound=Hashable)

# A document that is published, but cannot be built just now (its file cannot be read):
# answered 503, to be asked again, where a document that is not there at all is a 404.
UNAVAILABLE: Final = "unavailable"
# What `Documents.find` gives: the document, None (a 404) or UNAVAILABLE (a 503).
Lookup = Resource | None | Literal["unavailable"]


class OnDemand(Generic[K]):
    """Documents built off the event loop, the most recently used kept.

    Keyed by what the document is made of (an entry, a listing of entries: a new version of a
    file is a new key), so a key never needs invalidating; concurrent requests for the same
    document wait for the same build.
    """

    def __init__(self, render: Callable[[K], Resource | None], size: int = 1024) -> None:
        self._render = render
        self._size = size
        self._built: OrderedDict[K, Resource] = OrderedDict()
        self._building: dict[K, asyncio.Future[Resource | None]] = {}

    async def get(self, key: K) -> Resource | None:
        resource = self._built.get(key)
        if resource is not None:
            self._built.move_to_end(key)
            return resource
        building = self._building.get(key)
        if building is None:
            building = asyncio.get_running_loop().run_in_executor(None, self._render, key)
            self._building[key] = building
            try:
                resource = await building
            finally:
                del self._building[key]
            if resource is not None:
                self._built[key] = resource
                if len(self._built) > self._size:
                    self._built.popitem(last=False)
            return resource
        return await asyncio.shield(building)


PageCache = OnDemand[Entry]
ListingCache = OnDemand[Listing]


class Documents:
    """Finds the document at a URL path of a site, building it if it is built on demand; one
    per `Settings` (a reload makes a new one, and so forgets what the old one built)."""

    def __init__(self, settings: Settings) -> None:
        load = article_loader(settings)
        self.settings = settings
        self._pages = PageCache(PageRenderer(settings, load))
        self._listings = ListingCache(ListingRenderer(settings, load), size=256)

    async def find(self, site: Site, path: str) -> Lookup:
        resource = site.resources.get(path)
        if resource is not None:
            return resource
        entry = site.pages.get(path)
        if entry is not None:
            resource = await self._pages.get(entry)
        else:
            found = listing(site, path, self.settings)
            if found is None:
                return None
            resource = await self._listings.get(found)
        # Still published, but a file it needs cannot be read just now.
        return resource if resource is not None else UNAVAILABLE
