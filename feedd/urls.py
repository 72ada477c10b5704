"""Where each document lives: URL paths the server routes and `build` writes, and their links."""

from __future__ import annotations

import re
from urllib.parse import quote

from feedd.config import Settings

INDEX = "/"
ATOM = "/feed.atom"
RSS = "/feed.rss"
JSON = "/feed.json"
ARTICLES = "/articles/"

# Names a page or its precompressed copy can have (case-insensitive file systems included).
_PAGE_LIKE = re.compile(r"\.html(?:\.gz)?~*$", re.IGNORECASE)


def article_path(relative: str) -> str:
    """The stable URL path (decoded) of the page of the article file at `relative`.

    `a/b.txt` becomes `/articles/a/b.html`; other suffixes are kept (`x.md` -> `x.md.html`), so
    two files share a page only when `include` admits both `x` and `x.txt`. A folder named like
    a page (`b.html/`, `b.html.gz/`) gets a `~`, so that `feedd build` can write it beside the
    page of `b.txt`; folder names that already end in `~` get one more, so no two folders meet.
    """
    folders, _, name = relative.rpartition("/")
    stem = name[: -len(".txt")] if name.endswith(".txt") else name
    if folders and (".html" in folders.lower() or "~" in folders):  # rare: look closer
        escaped = [f + "~" if _PAGE_LIKE.search(f) else f for f in folders.split("/")]
        folders = "/".join(escaped)
    return f"{ARTICLES}{folders}/{stem}.html" if folders else f"{ARTICLES}{stem}.html"


def absolute(settings: Settings, path: str) -> str:
    """The absolute, percent-encoded URL of a decoded URL path."""
    return settings.site_url + quote(path.lstrip("/"), safe="/")
