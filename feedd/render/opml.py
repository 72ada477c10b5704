"""`/feeds.opml`: every feed of the site in one OPML 2.0 list, so a reader subscribes to all
of them (or picks some) in one import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from feedd import urls
from feedd.config import Settings
from feedd.render.site import http_date


def opml_document(sources: Sequence[str], updated: datetime | None, settings: Settings) -> bytes:
    """The main feed and each source's feed (Atom: one format a feed, or readers would
    subscribe three times), sources in the order given."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = f"{settings.title}: feeds"
    if updated is not None:
        etree.SubElement(head, "dateModified").text = http_date(updated)
    body = etree.SubElement(root, "body")
    _outline(body, settings.title, urls.absolute(settings, urls.ATOM), settings.site_url)
    if sources:
        group = etree.SubElement(body, "outline", text="Sources")
        for source in sources:
            feed = urls.absolute(settings, urls.source_path(source, ".atom"))
            _outline(group, f"{settings.title}: {source}", feed, settings.site_url)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _outline(parent: etree._Element, title: str, feed: str, site: str) -> None:
    etree.SubElement(
        parent, "outline", type="rss", text=title, title=title, xmlUrl=feed, htmlUrl=site
    )
