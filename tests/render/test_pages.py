"""The HTML index and article pages: links, escaping, language and the inline stylesheet."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import pytest
from helpers import make_article
from hypothesis import example, given
from hypothesis import strategies as st

from feedd import urls
from feedd.config import Settings
from feedd.parse.article import Article
from feedd.publish.folder import file_name, write_site
from feedd.render import pages
from feedd.render.site import Site
from feedd.render.whole import render_site

SETTINGS = Settings(base_url="https://news.example/wire/", title="Wire", author="The Desk")
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"q\" </p>"


def page_article(
    path: str,
    title: str = "Headline",
    *,
    day: int = 1,
    author: str | None = "A. Writer",
    source: str | None = "Meridian Wire",
    paragraphs: tuple[str, ...] = ("First paragraph.", "Second paragraph."),
) -> Article:
    """An article with every part of a page present, published `day` days into 2021."""
    published = datetime(2021, 1, 1, 9, 30, tzinfo=UTC) + timedelta(days=day)
    return make_article(
        path,
        title,
        published=published,
        updated=published + timedelta(hours=1),
        author=author,
        source=source,
        paragraphs=paragraphs,
    )


def render(articles: list[Article], settings: Settings = SETTINGS) -> Site:
    return render_site({a.path: a for a in articles}, 0, settings)


def url_of(path: str, settings: Settings = SETTINGS) -> str:
    return urls.absolute(settings, path)


def path_of(url: str, settings: Settings = SETTINGS) -> str:
    """The site's (decoded) URL path for an absolute URL under the site."""
    root = settings.site_url
    assert url.startswith(root), url
    return "/" + unquote(urlsplit(url).path[len(urlsplit(root).path) :])


def document(site: Site, path: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(site.resources[path].body)


def test_every_page_autodiscovers_all_three_feeds_and_its_source_feeds() -> None:
    site = render([page_article("a.txt")])
    source = "Meridian Wire"
    for path in site.resources:
        if not site.resources[path].content_type.startswith("text/html"):
            continue
        head = document(site, path).head
        found = [
            (link.get("type"), urljoin(url_of(path), link.get("href")))
            for link in head.iterfind("link[@rel='alternate']")
        ]
        expected = [
            ("application/atom+xml", url_of(urls.ATOM)),
            ("application/rss+xml", url_of(urls.RSS)),
            ("application/feed+json", url_of(urls.JSON)),
        ]
        if path != urls.INDEX:  # an article's page: its source's feeds too
            expected += [
                (kind, url_of(urls.source_path(source, suffix)))
                for (kind, _), suffix in zip(expected, urls.FEED_SUFFIXES, strict=True)
            ]
        assert found == expected
        for _, url in found:
            assert path_of(url) in site.resources


def test_index_links_the_newest_articles_in_order() -> None:
    articles = [page_article(f"{n}.txt", f"Story {n}", day=n) for n in range(8)]
    site = render(articles, Settings(base_url=SETTINGS.base_url, max_entries=5))
    anchors = document(site, urls.INDEX).findall(".//main//h2/a")
    assert [a.text_content() for a in anchors] == [f"Story {n}" for n in (7, 6, 5, 4, 3)]
    for anchor, n in zip(anchors, (7, 6, 5, 4, 3), strict=True):
        target = path_of(urljoin(url_of(urls.INDEX), anchor.get("href")))
        assert target == urls.article_path(f"{n}.txt")
        assert document(site, target).findtext(".//h1") == f"Story {n}"
    # Every article has its page, not only the newest.
    assert all(urls.article_path(a.path) in site.resources for a in articles)


def test_an_empty_index_says_so() -> None:
    text = document(render([]), urls.INDEX).text_content()
    assert "No articles yet" in text


NAMES = [
    "plain.txt",
    "with spaces.txt",
    "новости/статья номер 1.txt",
    "خبریں/اسلام آباد.txt",
    "hash#tag.txt",
    "question?.txt",
    "100% sure.txt",
    "%41.txt",
    "a:b.txt",
    "a&b <c>.txt",
    "deep/er/folder/x.txt",
    "b.txt",
    "b.html/c.txt",
    "notes.md",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("base_url", ["https://news.example/wire/", "http://127.0.0.1:8080"])
def test_each_article_page_is_at_its_feed_link_whatever_the_file_name(
    name: str, base_url: str
) -> None:
    settings = Settings(base_url=base_url)
    site = render([page_article(name, "The Title")], settings)
    link = urls.absolute(settings, urls.article_path(name))
    parts = urlsplit(link)
    assert not parts.query and not parts.fragment and " " not in link
    page = path_of(link, settings)
    assert page == urls.article_path(name) and page.endswith(".html")
    assert document(site, page).findtext(".//h1") == "The Title"
    # The same page is what the index links to.
    hrefs = [a.get("href") for a in document(site, urls.INDEX).iterfind(".//main//h2/a")]
    assert [urljoin(url_of(urls.INDEX, settings), h) for h in hrefs] == [link]


def test_no_internal_link_is_broken() -> None:
    site = render([page_article(name, day=n) for n, name in enumerate(NAMES)])
    for path, resource in site.resources.items():
        if not resource.content_type.startswith("text/html"):
            continue
        for element, _attribute, target, _pos in document(site, path).iterlinks():
            absolute = urljoin(url_of(path), target)
            assert path_of(absolute) in site.resources, (path, element.tag, target)


def test_article_page_has_every_part() -> None:
    item = page_article("x.txt", "Title", author="Jane Roe", source="Wire")
    root = lxml.html.document_fromstring(pages.article_page(item, SETTINGS))
    body = root.find(".//main/article")
    assert body.findtext("h1") == "Title"
    assert [p.text_content() for p in body.iterfind("p")][1:] == list(item.paragraphs)
    assert body.find(".//time").get("datetime") == item.published.isoformat()
    assert body.findtext(".//*[@class='author']") == "Jane Roe"
    assert body.findtext(".//*[@class='source']") == "Wire"
    assert root.findtext(".//title") == "Title · Wire"


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", HOSTILE), ("author", HOSTILE), ("source", HOSTILE), ("paragraphs", (HOSTILE,))],
)
def test_hostile_article_strings_are_text(field: str, value: object) -> None:
    item = page_article("x.txt", **{field: value})
    site = render([item])
    for path in (urls.INDEX, urls.article_path("x.txt")):
        root = document(site, path)
        assert root.find(".//script") is None and root.find(".//img") is None
        assert not any(attribute.startswith("on") for e in root.iter() for attribute in e.attrib)
        assert HOSTILE in root.text_content()


def test_hostile_settings_are_text() -> None:
    settings = Settings(base_url="https://news.example/", title=HOSTILE, description=HOSTILE)
    site = render([page_article("x.txt")], settings)
    for path in (urls.INDEX, urls.article_path("x.txt")):
        root = document(site, path)
        assert root.find(".//script") is None and root.find(".//img") is None
        assert HOSTILE in root.findtext(".//title")
        assert all(HOSTILE in link.get("title") for link in root.findall(".//link")[:3])
    assert document(site, urls.INDEX).findtext(".//header/h1") == HOSTILE


def _style_and_policy(body: bytes) -> tuple[list[bytes], str]:
    styles = re.findall(rb"<style>(.*?)</style>", body, re.DOTALL)
    root = lxml.html.document_fromstring(body)
    (meta,) = root.iterfind(".//meta[@http-equiv='Content-Security-Policy']")
    return styles, meta.get("content")


def test_the_inline_stylesheet_is_exactly_what_the_policy_hashes() -> None:
    site = render([page_article("x.txt")])
    for path in (urls.INDEX, urls.article_path("x.txt")):
        styles, policy = _style_and_policy(site.resources[path].body)
        assert policy == pages.CONTENT_SECURITY_POLICY
        assert len(styles) == 1
        digest = base64.b64encode(hashlib.sha256(styles[0]).digest()).decode()
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["style-src"] == f"'sha256-{digest}'"
        assert directives["default-src"] == "'none'"
        assert "script-src" not in directives  # falls back to default-src 'none'


def test_pages_are_self_contained() -> None:
    site = render([page_article("x.txt")])
    for path in (urls.INDEX, urls.article_path("x.txt")):
        root = document(site, path)
        assert root.find(".//script") is None
        rels = [link.get("rel") for link in root.iterfind(".//link")]
        assert rels in (["alternate"] * 3, ["alternate"] * 6)
        assert not [e for e in root.iter() if e.get("style") is not None or e.get("src")]
        assert root.get("lang") == "en"


@pytest.mark.parametrize(
    ("title", "site_language", "lang", "dir"),
    [
        ("اسلام آباد میں شدید سردی، درجہ حرارت گر گیا", "en", "ur", "rtl"),
        ("الأمم المتحدة تدعو إلى وقف إطلاق النار", "en", "ar", "rtl"),
        ("پیش‌بینی هوای تهران برای فردا", "en", "fa", "rtl"),
        ("הכנסת אישרה את התקציב", "en", "he", "rtl"),
        ("Karachi Port Handles Record Volume", "en", "en", "ltr"),
        ("Караван судов прибыл в порт", "en", "und", "ltr"),
        ("Караван судов прибыл в порт", "ru", "ru", "ltr"),
        ("اسلام آباد میں شدید سردی", "ur", "ur", "rtl"),
        ("Karachi Port Handles Record Volume", "ur", "und", "ltr"),
        ("東京でデータ流出の判決", "en", "ja", "ltr"),
        ("2021", "de", "de", "ltr"),
    ],
)
def test_language_and_direction_of_headlines(
    title: str, site_language: str, lang: str, dir: str
) -> None:
    settings = Settings(base_url=SETTINGS.base_url, language=site_language)
    site = render([page_article("x.txt", title, paragraphs=())], settings)
    index_item = document(site, urls.INDEX).find(".//main/article")
    page_item = document(site, urls.article_path("x.txt")).find(".//main/article")
    for element in (index_item, page_item):
        assert (element.get("lang"), element.get("dir")) == (lang, dir)
    root = document(site, urls.INDEX).getroottree().getroot()
    assert root.get("lang") == site_language
    assert root.get("dir") == ("rtl" if site_language == "ur" else "ltr")


def test_names_and_dates_are_isolated_from_a_right_to_left_line() -> None:
    item = page_article("x.txt", "اسلام آباد میں شدید سردی", author="Muhammad Irfan", source="وائر")
    root = lxml.html.document_fromstring(pages.article_page(item, SETTINGS))
    meta = root.find(".//p[@class='meta']")
    time = meta.find("time")
    assert (time.get("dir"), time.get("lang")) == ("ltr", "en")
    assert [e.tag for e in meta if e.tag != "time"] == ["bdi", "bdi"]


@pytest.mark.parametrize(
    ("page", "target", "expected"),
    [
        ("/", "/", "./"),
        ("/", "/feed.atom", "feed.atom"),
        ("/", "/articles/a b#?%.html", "articles/a%20b%23%3F%25.html"),
        ("/", "/articles/a:b.html", "articles/a%3Ab.html"),
        ("/articles/x.html", "/", "../"),
        ("/articles/world/x.html", "/feed.json", "../../feed.json"),
    ],
)
def test_links_are_relative(page: str, target: str, expected: str) -> None:
    assert pages.href(page, target) == expected


def test_a_name_too_long_for_its_page_file_gets_a_shorter_page_name(tmp_path: Path) -> None:
    """A 252-byte `.txt` name is legal, but `<name>.html.gz` would not be (found in review):
    the page keeps the name's start and a hash of the whole, and `feedd build` can write it."""
    long_names = ["a" * 251 + ".txt", "b" * 251 + ".txt", "ä" * 125 + ".txt"]
    for name in long_names:
        page = urls.article_path(name)
        assert len(page.rsplit("/", 1)[1].encode()) + len(".gz") <= 255
    assert len({urls.article_path(name) for name in long_names}) == 3
    site = render([page_article(name, f"T{i}") for i, name in enumerate(long_names)])
    write_site(site, tmp_path / "out")
    for name in long_names:
        assert (tmp_path / "out" / file_name(urls.article_path(name))).exists()


_folders = st.lists(st.sampled_from(["d", "b.HTML", "y~", "é", "T" * 130, "a\nb.txt"]), max_size=2)
_names = st.tuples(
    st.sampled_from(["a", "é" * 130, "T" * 130, "T" * 250, "b.txt\nc", ""]),
    st.sampled_from([".txt", ".txt", ".txt", ".md", ""]),
)
_paths = st.builds(lambda folders, name: "/".join([*folders, "".join(name)]), _folders, _names)


@given(st.lists(_paths, max_size=8))
@example(["b.txt\nc", "x.txt"])  # a name with a line break in it, not two paths
@example(["T" * 250 + ".txt"])  # too long a name: hashed
@example(["b.HTML/a.txt"])  # a folder named like a page: it gets a `~`
@example(["é" * 130 + ".txt"])  # few characters, too many bytes
def test_the_pages_of_many_paths_are_the_page_of_each(relatives: list[str]) -> None:
    """`article_paths` takes a shortcut when every path is plain; it must never differ."""
    assert urls.article_paths(relatives) == [urls.article_path(r) for r in relatives]
