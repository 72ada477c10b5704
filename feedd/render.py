"""Articles in, a `Site` out: every document built, compressed and tagged before it is served."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from feedd import feeds, pages, site, urls
from feedd.article import Article
from feedd.config import Settings
from feedd.site import Resource, Site, make_resource

log = logging.getLogger(__name__)


def render_site(
    articles: Mapping[str, Article],
    rejected: int,
    settings: Settings,
    previous: Site | None = None,
    changed: Collection[str] = (),
) -> Site:
    """Render the site for `articles` (keyed by relative path).

    With the `previous` site (rendered with the same settings) and the paths `changed` since,
    article pages that did not change are reused rather than rendered again.
    """
    ordered = feeds.newest_first(list(articles.values()))
    newest = ordered[: settings.max_entries]
    limit = settings.max_feed_bytes
    feed_updated = feeds.last_updated(newest) if newest else None

    resources: dict[str, Resource] = {
        urls.INDEX: make_resource(pages.index_page(newest, settings), site.HTML, feed_updated),
        urls.ATOM: make_resource(
            feeds.fit(lambda a: feeds.atom(a, settings), newest, limit), site.ATOM, feed_updated
        ),
        urls.RSS: make_resource(
            feeds.fit(lambda a: feeds.rss(a, settings), newest, limit), site.RSS, feed_updated
        ),
        urls.JSON: make_resource(
            feeds.fit(lambda a: feeds.json_feed(a, settings), newest, limit),
            site.JSON_FEED,
            feed_updated,
        ),
    }
    pages_of: dict[str, str] = {}
    for article in ordered:
        path = urls.article_path(article.path)
        if path in pages_of:
            # Only with `include` patterns beyond *.txt: `x` and `x.txt` share `x.html`.
            log.warning(
                "%s is not published as a page: %s, which is newer, has its address %s",
                article.path,
                pages_of[path],
                path,
            )
            continue
        pages_of[path] = article.path
        reusable = (
            previous.resources.get(path) if previous and article.path not in changed else None
        )
        resources[path] = reusable or make_resource(
            pages.article_page(article, settings), site.HTML, article.updated
        )
    return Site.create(
        resources,
        articles=len(ordered),
        rejected=rejected,
        updated=feeds.last_updated(ordered) if ordered else None,
    )
