"""Where each document lives: URL paths the server routes and `build` writes, and their links."""

from __future__ import annotations

from urllib.parse import quote

from feedd.config import Settings

INDEX = "/"
ATOM = "/feed.atom"
RSS = "/feed.rss"
JSON = "/feed.json"
ARTICLES = "/articles/"


def article_path(relative: str) -> str:
    """The stable URL path (decoded) of the page of the article file at `relative`.

    `a/b.txt` becomes `/articles/a/b.html`; other suffixes are kept (`x.md` -> `x.md.html`) so
    two files can never share a page.
    """
    stem = relative[: -len(".txt")] if relative.endswith(".txt") else relative
    return f"{ARTICLES}{stem}.html"


def absolute(settings: Settings, path: str) -> str:
    """The absolute, percent-encoded URL of a decoded URL path."""
    return settings.site_url + quote(path.lstrip("/"), safe="/")
