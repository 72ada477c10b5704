"""Coverage-guided fuzzing of the parse and render path, with atheris.

The property: any bytes give an `Article` or an `ArticleError`, nothing else; and an accepted
article renders, through `render_site` (what `feedd build` and `feedd serve` use), to Atom and
RSS that feedparser reads without `bozo`, JSON Feed that `json.loads` reads and HTML that lxml
parses, every field of the article found again, unchanged, in each of them.

An input is an article file's bytes, optionally followed by an envelope that says where the
file is and when it was modified: `\\x1e\\x1e` (two record separators), one selector byte (time
zone, modification time and site language) and the file's path in the folder, as bytes (decoded
the way Python decodes file names). Inputs without an envelope are `fuzz/a.txt`, in Karachi.

Run it (new inputs go to the first folder, crashes to `-artifact_prefix`):

    .venv/bin/python tests/fuzz/fuzz_article.py tests/fuzz/corpus -max_total_time=600

`check(data)` is the property; `tests/test_fuzz.py` runs it over every file in the corpus.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import lxml.etree
import lxml.html

if __name__ == "__main__":
    import atheris

    # Coverage of feedd, and of dateutil, which reads header dates and bylines.
    _instrumented: contextlib.AbstractContextManager[object] = atheris.instrument_imports(
        include=["feedd", "dateutil"]
    )
else:
    _instrumented = contextlib.nullcontext()

with _instrumented:
    from feedd import urls
    from feedd.config import Settings
    from feedd.library.candidates import Candidates
    from feedd.library.reading import display_path
    from feedd.parse.article import Article, ArticleError, parse
    from feedd.render import feeds, site
    from feedd.render.site import Resource
    from feedd.render.whole import render_site

DICTIONARY = Path(__file__).with_name("article.dict")
ENVELOPE = b"\x1e\x1e"
DEFAULT_PATH = "fuzz/a.txt"
DEFAULT_SELECTOR = 1  # Asia/Karachi, 2021-03-04, English
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"

ZONES = [
    UTC,
    ZoneInfo("Asia/Karachi"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Pacific/Kiritimati"),  # +14:00
    ZoneInfo("Pacific/Niue"),  # -11:00
    ZoneInfo("Europe/Amsterdam"),  # +00:19:32 before 1937: an offset in seconds
    ZoneInfo("Asia/Kolkata"),  # +05:30
    timezone(-timedelta(hours=23, minutes=59)),
]
# Modification times as `stat` can give them: ext4 keeps 1901 to 2446; tmpfs, btrfs and xfs
# keep far more than `datetime` can hold.
MTIMES = [
    datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp(),
    0.0,
    -(2**31),
    15032385535.0,  # 2446, ext4's latest
    253402300800.0,  # 10000-01-01
    -62135596801.0,  # before 0001-01-01
    2.0**63,
    1609545600.5,  # 2021-01-02 00:00:00.5 UTC
]
SITES = [
    Settings(
        base_url="https://news.example/wire desk/",
        title="Wire <desk> & co",
        description="All the <news>",
        author="The Desk",
        language=language,
    )
    for language in ("en", "ur", "zh", "he")
]
# The walk yields paths under a real folder; the candidate rules decide which it keeps.
_CANDIDATES = Candidates("/nonexistent", ("*",))


def split(data: bytes) -> tuple[bytes, str, int]:
    """The article's bytes, its path and the selector byte of the input `data`."""
    raw, found, envelope = data.rpartition(ENVELOPE)
    if not found or not envelope:
        return data, DEFAULT_PATH, DEFAULT_SELECTOR
    path = os.fsdecode(envelope[1:]) or DEFAULT_PATH
    parts = path.split("/")
    if "" in parts or not _CANDIDATES.is_candidate_path(path):
        path = DEFAULT_PATH  # never seen by the parser: the walk skips it
    return raw, path, envelope[0]


def check(data: bytes) -> Article | None:
    """Parse `data` (see the module's docstring) and render it; fail if anything is lost."""
    raw, path, selector = split(data)
    tz = ZONES[selector & 7]
    mtime = MTIMES[(selector >> 3) & 7]
    settings = SITES[(selector >> 6) & 3]
    try:
        article = parse(path, raw, mtime=mtime, tz=tz)
    except ArticleError as error:
        assert error.reason, "an ArticleError without a reason"
        return None
    if display_path(path) != path:
        return article  # reading.py rejects the name before anything is rendered
    check_rendered(article, settings)
    return article


def check_rendered(article: Article, settings: Settings) -> None:
    rendered = render_site({article.path: article}, 0, settings)
    page_path = urls.article_path(article.path)
    link = urls.absolute(settings, page_path)
    content = feeds.content_html(article, settings)
    assert {urls.INDEX, urls.ATOM, urls.RSS, urls.JSON, page_path} <= set(rendered.resources)
    for path, resource in rendered.resources.items():
        readable(path, resource)

    atom = rendered.resources[urls.ATOM].body
    document = feedparser.parse(atom)
    assert not document.bozo, ("atom", document.get("bozo_exception"))
    [entry] = document.entries
    assert (entry.id, entry.link) == (article.id, link)
    # The exact text from lxml: feedparser "repairs" text that looks like mojibake.
    [element] = lxml.etree.fromstring(atom).iterfind(ATOM + "entry")
    assert element.findtext(ATOM + "title") == article.title
    assert element.findtext(ATOM + "content") == content
    author = article.author or settings.author  # every entry names one
    assert element.findtext(ATOM + "author/" + ATOM + "name") == author
    if article.source:
        assert element.find(ATOM + "category").get("term") == article.source
    assert _atom_time(element.findtext(ATOM + "published")) == article.published
    assert _atom_time(element.findtext(ATOM + "updated")) == article.updated

    rss = rendered.resources[urls.RSS].body
    document = feedparser.parse(rss)
    assert not document.bozo, ("rss", document.get("bozo_exception"))
    [entry] = document.entries
    assert (entry.id, entry.link) == (article.id, link)
    [element] = lxml.etree.fromstring(rss).iterfind("channel/item")
    assert element.findtext("title") == article.title
    assert element.findtext(DC + "creator") == author
    assert element.findtext("category") == article.source
    # feedparser, not email.utils: the latter reads the year 0001 as 2001.
    assert entry.published_parsed[:6] == article.published.astimezone(UTC).timetuple()[:6]

    [item] = json.loads(rendered.resources[urls.JSON].body)["items"]
    assert (item["id"], item["url"], item["title"]) == (article.id, link, article.title)
    assert item["summary"] == feeds.summary_text(article)
    assert item["content_html"] == content
    assert (item["authors"], item["author"]) == ([{"name": author}], {"name": author})
    assert item.get("tags", [None])[0] == article.source
    assert datetime.fromisoformat(item["date_published"]) == article.published
    assert datetime.fromisoformat(item["date_modified"]) == article.updated

    # The paragraphs, each whole, in the feeds' HTML and on the article's page.
    paragraphs = (
        [p.text_content() for p in lxml.html.fragments_fromstring(content)] if content else []
    )
    assert tuple(paragraphs) == article.paragraphs
    page = lxml.html.document_fromstring(rendered.resources[page_path].body)
    assert page.findtext(".//h1") == article.title
    assert tuple(p.text_content() for p in page.findall(".//article/p")[1:]) == article.paragraphs
    index = lxml.html.document_fromstring(rendered.resources[urls.INDEX].body)
    [anchor] = index.iterfind(".//h2/a")
    assert anchor.text_content() == article.title
    # The links lead to the page, whatever the file's name: from the feeds and the index.
    assert unquote(urlsplit(link).path) == urlsplit(settings.site_url).path + page_path[1:]
    assert urljoin(settings.site_url, anchor.get("href")) == link


def readable(path: str, resource: Resource) -> None:
    """Every document the site holds, whatever it is, reads back without error."""
    kind = resource.content_type
    if kind in (site.ATOM, site.RSS):
        document = feedparser.parse(resource.body)
        assert not document.bozo, (path, document.get("bozo_exception"))
        lxml.etree.fromstring(resource.body)
    elif kind == site.JSON_FEED:
        json.loads(resource.body)
    elif kind == site.HTML:
        lxml.html.document_fromstring(resource.body)


def _atom_time(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def main() -> None:
    # libFuzzer runs argv[0] through the shell for -merge=1, -fork and -jobs: name the
    # interpreter too, so they work without a shebang or an executable bit.
    argv = [f"{shlex.quote(sys.executable)} {shlex.quote(sys.argv[0])}", *sys.argv[1:]]
    if not any(arg.startswith("-dict=") for arg in argv):
        argv.append(f"-dict={DICTIONARY}")
    atheris.Setup(argv, lambda data: check(data) and None)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
