"""Atom, RSS and JSON Feed, checked by parsing what is rendered, field by field."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import feedparser
import lxml.etree
import lxml.html
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feedd import urls
from feedd.config import Settings
from feedd.parse.article import Article, ArticleError, entry_id, parse
from feedd.render import feeds
from feedd.render.whole import render_site

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DC_NS = "http://purl.org/dc/elements/1.1/"
ATOM_NS = "{http://www.w3.org/2005/Atom}"
KARACHI = ZoneInfo("Asia/Karachi")
SETTINGS = Settings(
    base_url="https://news.example/wire/",
    title="Wire <desk> & co",
    description="All the <news>",
    author="The Desk",
    timezone="Asia/Karachi",
)


def article_bytes(
    headline: str,
    paragraphs: list[str],
    *,
    date: str = "2021-01-02",
    source: str = "Meridian Wire",
    byline: str | None = "Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM",
    repeat: bool = True,
) -> bytes:
    lines = [f" date {date} {source}".rstrip(), headline, ""]
    if byline:
        lines += [byline, ""]
    if repeat:
        lines += [headline, ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    return "\n".join(lines).encode()


def parsed(path: str, raw: bytes, mtime: float = 1_609_600_000) -> Article:
    return parse(path, raw, mtime=mtime, tz=KARACHI)


def sample_articles() -> list[Article]:
    """Articles that between them have every optional part present and missing."""
    return [
        parsed(
            "000_1a328842afac22b4.txt",
            article_bytes(
                "China's Foreign Minister Hails Prospects",
                ['MOSCOW (Sputnik) "We see no limit," the minister said.', "Second & last."],
            ),
        ),
        parsed(
            "world/news #1? 100%.txt",
            article_bytes(
                "<script>alert('x')</script> & <b>bold</b>",
                ["</p><script>alert(1)</script>", "a ]]> b"],
                date="2021-01-03",
                source="<i>Wire</i> & Co",
                byline="Staff <Reporter> Sun 03rd January 2021 | 09:30 PM",
            ),
        ),
        parsed(
            "урду/خبر نمبر ایک.txt",
            article_bytes(
                "اسلام آباد میں شدید سردی",
                ["اسلام آباد میں درجہ حرارت منفی تین ڈگری تک گر گیا۔"],  # noqa: RUF001
                date="2021-01-04",
                byline=None,
                repeat=False,
            ),
        ),
        parsed(
            "no-source.txt",
            article_bytes(
                "Headline Without Source Or Body", [], date="2021-01-01", source="", byline=None
            ),
        ),
    ]


def site_feeds(articles: list[Article], settings: Settings = SETTINGS) -> dict[str, bytes]:
    site = render_site({a.path: a for a in articles}, 0, settings)
    return {path: site.resources[path].body for path in (urls.ATOM, urls.RSS, urls.JSON)}


def html_paragraphs(fragment: str) -> list[str]:
    if not fragment.strip():
        return []
    return [p.text_content() for p in lxml.html.fragments_fromstring(fragment)]


def html_text(fragment: str) -> str:
    return lxml.html.fragment_fromstring(fragment, create_parent="div").text_content()


def when(struct: object) -> datetime:
    return datetime(*struct[:6], tzinfo=UTC)  # type: ignore[index,misc]


def page_url(article: Article, settings: Settings = SETTINGS) -> str:
    return urls.absolute(settings, urls.article_path(article.path))


def test_the_samples_cover_every_optional_part() -> None:
    articles = sample_articles()
    assert {a.author for a in articles} >= {None, "Faizan Hashmi", "Staff <Reporter>"}
    assert None in {a.source for a in articles}
    assert () in {a.paragraphs for a in articles}


def test_atom_entries_field_by_field() -> None:
    articles = feeds.newest_first(sample_articles())
    body = site_feeds(articles)[urls.ATOM]
    document = feedparser.parse(body)
    assert not document.bozo, document.get("bozo_exception")
    assert document.version == "atom10"
    assert document.feed.title == SETTINGS.title
    assert document.feed.id == feeds.feed_id(SETTINGS)
    assert document.feed.author == SETTINGS.author  # entries without a byline stay valid
    assert document.feed.link == SETTINGS.site_url
    assert when(document.feed.updated_parsed) == max(a.updated for a in articles)
    assert len(document.entries) == len(articles)
    for entry, article in zip(document.entries, articles, strict=True):
        assert entry.title == article.title
        assert entry.id == article.id
        assert [(link.rel, link.href) for link in entry.links] == [("alternate", page_url(article))]
        assert when(entry.published_parsed) == article.published
        assert when(entry.updated_parsed) == article.updated
        assert entry.get("author") == (article.author or SETTINGS.author)
        assert [t.term for t in entry.get("tags", [])] == [article.source] * bool(article.source)
        assert [c.type for c in entry.content] == ["text/html"]
        assert html_paragraphs(entry.content[0].value) == list(article.paragraphs)
        assert html_text(entry.summary) == article.summary

    root = lxml.etree.fromstring(body)
    assert root.tag == ATOM_NS + "feed"
    self_links = root.findall(f"{ATOM_NS}link[@rel='self']")
    assert [link.get("href") for link in self_links] == [urls.absolute(SETTINGS, urls.ATOM)]
    for element, article in zip(root.iter(ATOM_NS + "entry"), articles, strict=True):
        # feedgen drops rel="alternate" from entry links; Atom defaults rel to alternate.
        assert element.find(ATOM_NS + "link").get("rel", "alternate") == "alternate"
        assert element.findtext(f"{ATOM_NS}author/{ATOM_NS}name") == (
            article.author or SETTINGS.author
        ), "every entry names its author: most readers do not inherit the feed's"
        assert element.find(ATOM_NS + "content").get("type") == "html"


def test_rss_items_field_by_field() -> None:
    articles = feeds.newest_first(sample_articles())
    body = site_feeds(articles)[urls.RSS]
    document = feedparser.parse(body)
    assert not document.bozo, document.get("bozo_exception")
    assert document.version == "rss20"
    assert document.feed.title == SETTINGS.title
    assert document.feed.link == SETTINGS.site_url  # the site, not the feed itself
    assert html_text(document.feed.subtitle) == SETTINGS.description  # HTML, as readers take it
    assert len(document.entries) == len(articles)
    for entry, article in zip(document.entries, articles, strict=True):
        assert entry.title == article.title
        assert entry.id == article.id
        assert entry.guidislink is False
        assert entry.link == page_url(article)
        assert when(entry.published_parsed) == article.published
        assert "updated" not in entry  # RSS 2.0 has no per-item updated date
        assert entry.get("author") == (article.author or SETTINGS.author)
        assert [t.term for t in entry.get("tags", [])] == [article.source] * bool(article.source)
        if article.paragraphs:
            assert html_paragraphs(entry.content[0].value) == list(article.paragraphs)
            assert html_text(entry.summary) == article.summary
        else:
            assert not entry.get("content") and not entry.get("summary")

    channel = lxml.etree.fromstring(body).find("channel")
    self_link = channel.find(ATOM_NS + "link")
    assert (self_link.get("rel"), self_link.get("href")) == (
        "self",
        urls.absolute(SETTINGS, urls.RSS),
    )
    assert channel.findtext("link") == SETTINGS.site_url
    guids = [item.find("guid") for item in channel.iter("item")]
    assert [g.get("isPermaLink") for g in guids] == ["false"] * len(articles)


def check_json_feed(document: dict[str, object]) -> None:
    """The parts of JSON Feed 1.1 that readers rely on."""
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str)
    assert isinstance(document["items"], list)
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        assert item["url"].startswith(("http://", "https://"))
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
        for author in item.get("authors", []):
            assert isinstance(author["name"], str)
        assert all(isinstance(tag, str) for tag in item.get("tags", []))


def test_json_feed_items_field_by_field() -> None:
    articles = feeds.newest_first(sample_articles())
    document = json.loads(site_feeds(articles)[urls.JSON])
    check_json_feed(document)
    assert document["title"] == SETTINGS.title
    assert document["home_page_url"] == SETTINGS.site_url
    assert document["feed_url"] == urls.absolute(SETTINGS, urls.JSON)
    assert document["authors"] == [{"name": SETTINGS.author}]
    assert len(document["items"]) == len(articles)
    for item, article in zip(document["items"], articles, strict=True):
        assert item["title"] == article.title
        assert item["id"] == article.id
        assert item["url"] == page_url(article)
        assert datetime.fromisoformat(item["date_published"]) == article.published
        assert datetime.fromisoformat(item["date_modified"]) == article.updated
        author = {"name": article.author or SETTINGS.author}
        assert (item["authors"], item["author"]) == ([author], author), "1.1's and 1.0's"
        assert item.get("tags") == ([article.source] if article.source else None)
        assert html_paragraphs(item["content_html"]) == list(article.paragraphs)
        assert item["summary"] == article.summary  # plain text, not HTML


def test_long_first_paragraph_is_cut_at_a_word_for_the_summary() -> None:
    first = " ".join(["word"] * 400)
    article = parsed("long.txt", article_bytes("Long", [first, "Second."]))
    summary = feeds.summary_text(article)
    assert len(summary) < 620 and summary.endswith(" …")
    assert first.startswith(summary.removesuffix(" …"))
    entry = feedparser.parse(feeds.atom([article], SETTINGS)).entries[0]
    assert html_text(entry.summary) == summary
    assert html_paragraphs(entry.content[0].value) == [first, "Second."]


def test_newest_first_and_max_entries() -> None:
    articles = [
        parsed(f"{n:02d}.txt", article_bytes(f"Day {n}", ["Text."], date=f"2021-01-{n:02d}"))
        for n in range(1, 13)
    ]
    settings = Settings(base_url="https://news.example/", max_entries=5)
    bodies = site_feeds(articles[::-1][3:] + articles[::-1][:3], settings)
    expected = [f"Day {n}" for n in range(12, 7, -1)]
    for path in (urls.ATOM, urls.RSS):
        assert [e.title for e in feedparser.parse(bodies[path]).entries] == expected
    assert [i["title"] for i in json.loads(bodies[urls.JSON])["items"]] == expected


def test_feeds_never_exceed_max_feed_bytes() -> None:
    paragraph = "All work and no play makes a long feed. " * 20
    articles = [
        parsed(
            f"{n:03d}.txt", article_bytes(f"Story {n}", [paragraph] * 3, date=f"2021-02-{n:02d}")
        )
        for n in range(1, 29)
    ]
    limit = 20_000
    settings = Settings(base_url="https://news.example/", max_feed_bytes=limit)
    newest = [a.title for a in feeds.newest_first(articles)]
    for path, body in site_feeds(articles, settings).items():
        assert len(body) <= limit, path
        if path == urls.JSON:
            titles = [item["title"] for item in json.loads(body)["items"]]
        else:
            document = feedparser.parse(body)
            assert not document.bozo
            titles = [entry.title for entry in document.entries]
        # Fewer entries rather than an oversized feed, but as many as fit and the newest.
        assert 0 < len(titles) < len(articles)
        assert titles == newest[: len(titles)]
        assert len(body) > limit * 0.6


def test_one_huge_article_is_cut_and_does_not_push_the_others_out() -> None:
    huge = parsed(
        "huge.txt",
        article_bytes(
            "Huge", [f"Paragraph {n}. " + "x" * 1000 for n in range(300)], date="2021-03-02"
        ),
    )
    others = [
        parsed(f"small{n}.txt", article_bytes(f"Small {n}", ["Short."], date="2021-03-01"))
        for n in range(5)
    ]
    limit = 100_000
    settings = Settings(base_url="https://news.example/", max_feed_bytes=limit)
    bodies = site_feeds([huge, *others], settings)
    for path, body in bodies.items():
        assert len(body) <= limit, path
    entries = feedparser.parse(bodies[urls.ATOM]).entries
    assert len(entries) == 6 and entries[0].title == "Huge"
    content = lxml.html.fragment_fromstring(entries[0].content[0].value, create_parent="div")
    paragraphs = content.findall("p")
    assert 10 < len(paragraphs) < 300
    assert paragraphs[0].text_content() == huge.paragraphs[0]
    assert paragraphs[-1].find("a").get("href") == page_url(huge, settings)
    item = json.loads(bodies[urls.JSON])["items"][0]
    assert html_paragraphs(item["content_html"])[:-1] == list(
        huge.paragraphs[: len(paragraphs) - 1]
    )


def test_an_empty_folder_gives_valid_empty_feeds() -> None:
    bodies = site_feeds([])
    for path in (urls.ATOM, urls.RSS):
        document = feedparser.parse(bodies[path])
        assert not document.bozo and document.entries == []
    check_json_feed(json.loads(bodies[urls.JSON]))


def test_rendering_twice_gives_identical_bytes() -> None:
    articles = sample_articles()
    first = site_feeds(articles)
    assert site_feeds(list(reversed(articles))) == first
    assert feeds.atom(articles, SETTINGS) == feeds.atom(articles, SETTINGS)


def test_ids_survive_edits_and_a_move_to_https() -> None:
    before = parsed("desk/story.txt", article_bytes("Old Headline", ["Old text."]))
    after = parsed(
        "desk/story.txt", article_bytes("New Headline", ["New text."], date="2021-01-09"), 1.7e9
    )
    assert before.id == after.id == entry_id("desk/story.txt")

    http = Settings(base_url="http://news.example/wire/")
    https = Settings(base_url="https://news.example/wire")
    old, new = site_feeds([before], http), site_feeds([before], https)
    for path in (urls.ATOM, urls.RSS):
        old_doc, new_doc = feedparser.parse(old[path]), feedparser.parse(new[path])
        assert old_doc.entries[0].id == new_doc.entries[0].id == before.id
        assert old_doc.entries[0].link.replace("http:", "https:", 1) == new_doc.entries[0].link
    assert feedparser.parse(old[urls.ATOM]).feed.id == feedparser.parse(new[urls.ATOM]).feed.id
    assert (
        json.loads(old[urls.JSON])["items"][0]["id"] == json.loads(new[urls.JSON])["items"][0]["id"]
    )


def test_a_historical_offset_in_seconds_is_stated_in_utc() -> None:
    # Amsterdam kept local mean time until 1937 (+01:19:32 in summer): RFC 3339 offsets are
    # whole minutes.
    article = parse(
        "old.txt",
        article_bytes("Old", ["Text."], date="1920-05-01", byline=None),
        mtime=0,
        tz=ZoneInfo("Europe/Amsterdam"),
    )
    entry = feedparser.parse(feeds.atom([article], SETTINGS)).entries[0]
    assert when(entry.published_parsed) == article.published
    item = json.loads(feeds.json_feed([article], SETTINGS))["items"][0]
    assert item["date_published"] == "1920-04-30T22:40:28+00:00"


# Lines of any text: control characters, RTL marks, markup, unpaired brackets (surrogates are
# what `parse` removes; st.text leaves them out).
_line = st.text(max_size=30)
# File names: anything but "/" and NUL; the library rejects names that are not UTF-8.
_name = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), min_size=1, max_size=12
)


@st.composite
def article_files(draw: st.DrawFn) -> dict[str, Article]:
    articles: dict[str, Article] = {}
    for n in range(draw(st.integers(0, 4))):
        path = f"{n}/{draw(_name)}.txt"
        raw = article_bytes(
            draw(_line),
            draw(st.lists(_line, max_size=3)),
            date=draw(st.dates(min_value=datetime(1900, 1, 1).date())).isoformat(),
            source=draw(_line),
            byline=draw(st.none() | _line),
            repeat=draw(st.booleans()),
        )
        with contextlib.suppress(ArticleError):  # an empty headline, say
            articles[path] = parse(path, raw, mtime=draw(st.integers(0, 2**32)), tz=KARACHI)
    return articles


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(articles=article_files())
def test_any_articles_render_to_feeds_readers_accept(articles: dict[str, Article]) -> None:
    bodies = site_feeds(list(articles.values()))
    ordered = feeds.newest_first(list(articles.values()))
    for path, entry, title in (
        (urls.ATOM, ATOM_NS + "entry", ATOM_NS + "title"),
        (urls.RSS, "channel/item", "title"),
    ):
        root = lxml.etree.fromstring(bodies[path])  # well-formed, or this raises
        # The exact text; feedparser "repairs" text that looks like UTF-8 read as Latin-1.
        assert [e.findtext(title) for e in root.iterfind(entry)] == [a.title for a in ordered]
        document = feedparser.parse(bodies[path])
        assert not document.bozo, (path, document.get("bozo_exception"))
        assert [e.id for e in document.entries] == [a.id for a in ordered]
        assert [e.link for e in document.entries] == [page_url(a) for a in ordered]
    document = json.loads(bodies[urls.JSON])
    check_json_feed(document)
    assert [(i["id"], i["title"]) for i in document["items"]] == [(a.id, a.title) for a in ordered]


@pytest.mark.parametrize("title", ["\u202eevil", "a\u2028b", "\ufeffbom", "x\u200by", "\U0001f600"])
def test_awkward_but_legal_characters_pass_through(title: str) -> None:
    article = parsed("odd.txt", article_bytes(title, ["p\u2029q"]))
    for render in (feeds.atom, feeds.rss):
        document = feedparser.parse(render([article], SETTINGS))
        assert not document.bozo
        assert document.entries[0].title == article.title


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(articles=article_files())
def test_feeds_assembled_from_fragments_are_what_feedgen_writes_whole(
    articles: dict[str, Article],
) -> None:
    ordered = feeds.newest_first(list(articles.values()))
    updated = feeds.last_updated(ordered)
    atom_generator = feeds._generator(SETTINGS, feeds.MAIN_ATOM, updated)
    rss_generator = feeds._rss_generator(SETTINGS, feeds.MAIN_RSS, updated)
    for generator in (atom_generator, rss_generator):
        for article in ordered:
            generator.add_entry(feeds._feed_entry(article, SETTINGS), order="append")
    # Less the entries' xml:lang, which feedd adds where feedgen has no field for it.
    assert canonical(feeds.atom(ordered, SETTINGS), drop=XML_LANG) == canonical(
        atom_generator.atom_str()
    )
    assert canonical(feeds.rss(ordered, SETTINGS)) == canonical(rss_generator.rss_str())
    whole_json = json.loads(feeds.json_feed(ordered, SETTINGS))
    assert [item["id"] for item in whole_json["items"]] == [a.id for a in ordered]


def canonical(document: bytes, drop: str | None = None) -> bytes:
    """The document's infoset: no formatting whitespace, namespaces declared once (C14N 2.0);
    without the attribute `drop` of its entries."""
    parser = lxml.etree.XMLParser(remove_blank_text=True)
    root = lxml.etree.fromstring(document, parser)
    for entry in root.iter(ATOM_NS + "entry"):
        if drop is not None:
            entry.attrib.pop(drop, None)
    return lxml.etree.canonicalize(
        lxml.etree.tostring(root, encoding="unicode"), strip_text=True
    ).encode()


def test_archive_pages_and_hubs_are_stated_in_every_format() -> None:
    """RFC 5005 (fh:archive, prev-archive/next-archive/current) and WebSub hubs, as readers
    and validators see them: in Atom as links, in RSS as atom:link, in JSON Feed as
    `next_url` and `hubs`."""
    articles = sample_articles()
    hubs = ("https://hub.example/", "https://other.example/hub?x=1&y=2")
    links = (("prev-archive", "/archive/2020-12"), ("next-archive", "/archive/2021-02"))
    page = feeds.FeedHead(
        "/archive/2021-01", "Wire: January", (*links, ("current", "/")), hubs, True
    )
    documents = {
        "atom": feeds.atom(articles, SETTINGS, dataclasses.replace(page, self_path="/a.atom")),
        "rss": feeds.rss(articles, SETTINGS, dataclasses.replace(page, self_path="/a.rss")),
    }
    for name, body in documents.items():
        parsed_feed = feedparser.parse(body)
        assert not parsed_feed.bozo, (name, parsed_feed.bozo_exception)
        assert len(parsed_feed.entries) == len(articles)
        root = lxml.etree.fromstring(body)
        found = {(link.get("rel"), link.get("href")) for link in root.iter(f"{ATOM_NS}link")}
        base = SETTINGS.site_url
        assert {("hub", hub) for hub in hubs} <= found, name
        assert ("prev-archive", base + "archive/2020-12") in found, name
        assert ("next-archive", base + "archive/2021-02") in found, name
        assert ("current", base) in found, name
        assert len(root.findall(".//{http://purl.org/syndication/history/1.0}archive")) == 1
    json_page = dataclasses.replace(page, self_path="/a.json")
    document = json.loads(feeds.json_feed(articles, SETTINGS, json_page))
    check_json_feed(document)
    assert document["next_url"] == SETTINGS.site_url + "archive/2020-12"
    assert document["hubs"] == [{"type": "WebSub", "url": hub} for hub in hubs]
    assert document["feed_url"] == SETTINGS.site_url + "a.json"
    # The main feeds say none of it.
    main = lxml.etree.fromstring(feeds.atom(articles, SETTINGS))
    assert {link.get("rel") for link in main.findall(f"{ATOM_NS}link")} == {"self", "alternate"}
    assert "next_url" not in json.loads(feeds.json_feed(articles, SETTINGS))


def test_an_entry_in_another_language_than_the_site_says_so_in_every_format() -> None:
    """An Urdu article on an English site is not declared English: readers choose a font,
    a direction or a translation by it."""
    urdu = parsed("ur.txt", article_bytes("اسلام آباد میں شدید سردی", ["شہر میں برف باری ہوئی"]))
    english = parsed("en.txt", article_bytes("Snow in Islamabad", ["The city woke to snow."]))
    bodies = site_feeds([urdu, english])
    root = lxml.etree.fromstring(bodies[urls.ATOM])
    assert root.get(XML_LANG) == SETTINGS.language
    languages = {e.findtext(ATOM_NS + "id"): e.get(XML_LANG) for e in root.iter(ATOM_NS + "entry")}
    assert languages == {urdu.id: "ur", english.id: None}  # (None: the feed's)
    entries = feedparser.parse(bodies[urls.ATOM]).entries
    assert {e.id: e.title_detail.language for e in entries} == {
        urdu.id: "ur",
        english.id: SETTINGS.language,
    }
    items = lxml.etree.fromstring(bodies[urls.RSS]).iter("item")
    assert {i.findtext("guid"): i.findtext(f"{{{DC_NS}}}language") for i in items} == {
        urdu.id: "ur",
        english.id: None,
    }
    document = json.loads(bodies[urls.JSON])
    assert {i["id"]: i.get("language") for i in document["items"]} == {
        urdu.id: "ur",
        english.id: None,
    }
