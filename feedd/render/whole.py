"""A whole site rendered at once, every document built and held in memory: for tools and tests
that want every document (`feedd build` writes pages one at a time instead, see `cli.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from feedd import urls
from feedd.config import Settings
from feedd.library.entries import Entry, article_key
from feedd.parse.article import Article
from feedd.render import feeds
from feedd.render.archive import Archive
from feedd.render.listings import ListingRenderer, listing, on_demand_feeds
from feedd.render.pages import article_resource
from feedd.render.renderer import Renderer
from feedd.render.site import Site, SourceFeed

log = logging.getLogger(__name__)


def render_site(
    articles: Mapping[str, Article],
    rejected: int,
    settings: Settings,
    previous: Site | None = None,
    changed: Collection[str] = (),
) -> Site:
    """The whole site for `articles` (keyed by relative path), every document built: the
    feeds, the index, every page, archive page and source feed.

    With the `previous` site (rendered with the same settings) and the paths `changed` since,
    pages that did not change are reused rather than rendered again.
    """
    ordered = feeds.newest_first(list(articles.values()))
    count = settings.max_entries
    entries = {
        a.path: Entry(a.path, urls.article_path(a.path), a.published, a.updated, a.source)
        for a in ordered
    }
    by_source: dict[str, list[Entry]] = {}
    for article in ordered:
        if article.source is not None:
            by_source.setdefault(article.source, []).append(entries[article.path])
    sources = {
        urls.source_slug(name): SourceFeed(name, tuple(listed[:count]))
        for name, listed in by_source.items()
    }
    renderer = Renderer(settings)
    older: str | None = None
    for _ in range(3):  # as in Renderer.site: the archive starts below what the feeds carried
        documents = renderer.documents(ordered[:count], older, sorted(by_source))
        archived = ordered[renderer.carried :]
        archive = Archive(tuple(article_key(a) for a in reversed(archived)), count)
        page = archive.newest()
        if (page.name if page else None) == older:
            break
        older = page.name if page else None
    resources = dict(documents)
    for article in ordered:
        path = urls.article_path(article.path)
        if path in resources:
            # Only with `include` patterns beyond *.txt: `x` and `x.txt` share `x.html`.
            log.warning(
                "%s is not published as a page: a newer article has its address %s",
                article.path,
                path,
            )
            continue
        reusable = (
            previous.resources.get(path) if previous and article.path not in changed else None
        )
        resources[path] = reusable or article_resource(article, settings)
    pages = {entry.page: entry for entry in entries.values()}
    site = Site.create(
        resources,
        articles=0,
        rejected=0,
        updated=None,
        pages=pages,
        archive=archive,
        sources=sources,
    )
    build = ListingRenderer(settings, lambda entry: articles.get(entry.path))
    for path in on_demand_feeds(site):
        found = listing(site, path, settings)
        built = build(found) if found is not None else None
        if built is not None:
            resources[path] = built
    return Site.create(
        resources,
        articles=len(ordered),
        rejected=rejected,
        updated=feeds.last_updated(ordered) if ordered else None,
    )
