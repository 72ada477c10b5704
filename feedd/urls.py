"""Where each document lives: URL paths the server routes and `build` writes, and their links."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from urllib.parse import quote

from feedd.config import Settings

INDEX = "/"
ATOM = "/feed.atom"
RSS = "/feed.rss"
JSON = "/feed.json"
ARTICLES = "/articles/"
ARCHIVE = "/archive/"
SOURCES = "/sources/"
OPML = "/feeds.opml"
# A feed's format by the suffix of its path, the main feeds' included.
FEED_SUFFIXES = (".atom", ".rss", ".json")
MAIN_FEEDS = {".atom": ATOM, ".rss": RSS, ".json": JSON}

# Names a page or its precompressed copy can have (case-insensitive file systems included).
_PAGE_LIKE = re.compile(r"\.html(?:\.gz)?~*$", re.IGNORECASE)


def article_path(relative: str) -> str:
    """The stable URL path (decoded) of the page of the article file at `relative`.

    `a/b.txt` becomes `/articles/a/b.html`; other suffixes are kept (`x.md` -> `x.md.html`), so
    two files share a page only when `include` admits both `x` and `x.txt`. A name too long
    for its page's `.html.gz` to be a file name keeps its start and a hash of the whole. A folder named like
    a page (`b.html/`, `b.html.gz/`) gets a `~`, so that `feedd build` can write it beside the
    page of `b.txt`; folder names that already end in `~` get one more, so no two folders meet.
    """
    folders, _, name = relative.rpartition("/")
    stem = name[: -len(".txt")] if name.endswith(".txt") else name
    stem = _fitting(stem)
    if folders and (".html" in folders.lower() or "~" in folders):  # rare: look closer
        escaped = [f + "~" if _PAGE_LIKE.search(f) else f for f in folders.split("/")]
        folders = "/".join(escaped)
    return f"{ARTICLES}{folders}/{stem}.html" if folders else f"{ARTICLES}{stem}.html"


def article_paths(relatives: Sequence[str]) -> list[str]:
    """`article_path` of each, for every path of a warm start: in loops that run in C when
    every path is plain (a short `.txt` name, no folder that needs a `~`)."""
    joined = "\n".join(relatives)
    plain = (
        max(map(len, relatives), default=0) <= _STEM_BYTES // 4
        and ".html" not in joined.lower()
        and joined.count("\n") == joined.count(".txt\n") == len(relatives) - 1
        and joined.endswith(".txt")
    )
    if not plain:
        return list(map(article_path, relatives))
    return [f"{ARTICLES}{relative[:-4]}.html" for relative in relatives]


def absolute(settings: Settings, path: str) -> str:
    """The absolute, percent-encoded URL of a decoded URL path."""
    return settings.site_url + quote(path.lstrip("/"), safe="/")


def archive_path(name: str, suffix: str) -> str:
    """An archive page in one format: `/archive/2021-01.atom`."""
    return f"{ARCHIVE}{name}{suffix}"


def source_path(source: str, suffix: str) -> str:
    """A source's feed in one format: `/sources/TASS.atom`."""
    return f"{SOURCES}{source_slug(source)}{suffix}"


def source_slug(source: str) -> str:
    """A name for a source that is safe in a URL and as a file name, and unique: the name
    itself when it is made of letters, digits, dots and dashes, else a readable form of it
    with a short hash of the whole (`Meridian Wire` becomes `Meridian-Wire-0c2d86f1`)."""
    readable = _UNSAFE.sub("-", source).strip(".-")
    if readable == source and source and len(source) <= _SLUG_CHARS and not _HASHED.search(source):
        return source
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return f"{readable[:_SLUG_CHARS] or 'source'}-{digest}"


_UNSAFE = re.compile(r"[^\w.-]+")
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # what a hashed slug ends with: no name may look like one
_SLUG_CHARS = 60
# A page's file name (`<stem>.html.gz`) must fit in the 255 bytes file systems allow.
_STEM_BYTES = 255 - len(".html.gz")


def _fitting(stem: str) -> str:
    if len(stem) <= _STEM_BYTES // 4:  # fits in any encoding: no need to encode it
        return stem
    encoded = stem.encode("utf-8", "surrogatepass")
    if len(encoded) <= _STEM_BYTES:
        return stem
    digest = hashlib.blake2b(encoded, digest_size=4).hexdigest()
    cut = encoded[: _STEM_BYTES - 64].decode("utf-8", "ignore")  # not in a character's middle
    return f"{cut}-{digest}"
