"""The article parser: every variation of the format, the rejections, and properties over any bytes."""

# ruff: noqa: RUF001  (Cyrillic, Chinese and Urdu text is what these tests are about)

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from helpers import REAL_SEED
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from feedd.parse.article import Article, ArticleError, Head, entry_id, parse, parse_head
from feedd.parse.byline import parse_byline

KARACHI = ZoneInfo("Asia/Karachi")
MTIME = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
BY_MTIME = datetime.fromtimestamp(MTIME, KARACHI)
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

HEADER = "date 2021-01-02 UrduPoint.com"
TITLE = "China's Foreign Minister Hails Prospects"
REPEAT = "China's Foreign Minister Hails prospects"
BYLINE = "Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM"
P1 = "MOSCOW (UrduPoint News / Sputnik - 02nd January, 2021) China and Russia agree."
P2 = '"The year 2021 is special," the minister said.'
AT_11 = datetime(2021, 1, 2, 11, 0, tzinfo=KARACHI)
MIDNIGHT = datetime(2021, 1, 2, tzinfo=KARACHI)
NO_HEADER = "no 'date YYYY-MM-DD SOURCE' header"
BAD_DATE = "impossible date '2021-13-45'"
CP1252 = "not valid UTF-8"


def lines(*text: str) -> bytes:
    return "\n".join(text).encode()


@dataclass(frozen=True)
class Want:
    title: str = TITLE
    author: str | None = "Faizan Hashmi"
    source: str | None = "UrduPoint.com"
    published: datetime = AT_11
    paragraphs: tuple[str, ...] = (P1, P2)
    warnings: tuple[str, ...] = ()  # a fragment of each warning, in order


def case(raw: bytes, want: Want, id: str) -> object:
    return pytest.param(raw, want, id=id)


FULL = [HEADER, TITLE, "", BYLINE, "", REPEAT, "", P1, "", P2, ""]

CASES = [
    # Byline and repeated headline: present, absent, in either order, in any case.
    case(lines(*FULL), Want(), "byline-and-repeat"),
    case(lines(HEADER, TITLE, "", BYLINE, "", P1, "", P2), Want(), "byline-no-repeat"),
    case(
        lines(HEADER, TITLE, "", REPEAT, "", P1, "", P2),
        Want(author=None, published=MIDNIGHT),
        "repeat-no-byline",
    ),
    case(lines(HEADER, TITLE, "", P1, "", P2), Want(author=None, published=MIDNIGHT), "bare"),
    case(
        lines(HEADER, TITLE, "", REPEAT, "", BYLINE, "", P1, "", P2), Want(), "repeat-then-byline"
    ),
    case(lines(HEADER, TITLE, BYLINE, REPEAT, P1, "", P2), Want(), "no-blank-lines-in-head"),
    case(lines(HEADER, TITLE, "", BYLINE, "", TITLE, "", P1, "", P2), Want(), "repeat-same-case"),
    case(
        lines(HEADER, TITLE, "", BYLINE, "", TITLE.upper(), "", P1, "", P2),
        Want(),
        "repeat-upper-case",
    ),
    case(
        lines(
            HEADER,
            TITLE,
            "",
            BYLINE,
            "",
            "  china's   FOREIGN minister hails prospects ",
            "",
            P1,
            "",
            P2,
        ),
        Want(),
        "repeat-lower-case-spacing",
    ),
    case(
        lines(HEADER, TITLE, "", BYLINE, "", TITLE + " Today", "", P1, "", P2),
        Want(paragraphs=(TITLE + " Today", P1, P2)),
        "near-repeat-is-body",
    ),
    case(
        lines(HEADER, TITLE, "", BYLINE, "", BYLINE, "", P1, "", P2),
        Want(paragraphs=(BYLINE, P1, P2)),
        "second-byline-is-body",
    ),
    case(
        lines(HEADER, TITLE, "", REPEAT, "", REPEAT, "", P1, "", P2),
        Want(author=None, published=MIDNIGHT, paragraphs=(REPEAT, P1, P2)),
        "second-repeat-is-body",
    ),
    # Line endings and encodings.
    case("\r\n".join(FULL).encode(), Want(), "crlf"),
    case("\r".join(FULL).encode(), Want(), "cr"),
    case(b"\xef\xbb\xbf" + lines(*FULL), Want(), "bom"),
    case(b"\xef\xbb\xbf" + "\r\n".join(FULL).encode(), Want(), "bom-crlf"),
    case(
        lines(HEADER)
        + b"\nCaf\xe9 Society\n\n"
        + lines(BYLINE)
        + b"\n\n\x93Quoted\x94 \x96 it\x92s\n",
        Want(
            title="Café Society",
            paragraphs=("\u201cQuoted\u201d \u2013 it\u2019s",),
            warnings=(CP1252,),
        ),
        "windows-1252",
    ),
    case(
        lines(HEADER, "Café — naïve", "", P1) + b" caf\xe9",
        Want(
            title="Café — naïve",
            author=None,
            published=MIDNIGHT,
            paragraphs=(P1 + " café",),
            warnings=(CP1252,),
        ),
        "utf8-with-stray-cp1252-byte",
    ),
    # Characters XML forbids, each class, anywhere.
    case(
        lines(
            HEADER,
            "Tit\x01le\x08",
            "",
            "Faizan\x0b Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM",
            "",
            "a\x0cb\x1bc\x1fd",
        ),
        Want(title="Title", author="Faizan Hashmi", paragraphs=("abcd",)),
        "c0-controls",
    ),
    case(
        lines(HEADER, "Ti\x7ftle", "", "a\x7fb"),
        Want(title="Title", author=None, published=MIDNIGHT, paragraphs=("ab",)),
        "del",
    ),
    case(
        lines("date 2021-01-02 Urdu\ufffePoint.com", "Ti\ufffftle", "", "a\ufffeb"),
        Want(title="Title", author=None, published=MIDNIGHT, paragraphs=("ab",)),
        "u-fffe-ffff",
    ),
    case(
        lines(HEADER, "Title", "", "a\u0085b\u009fc"),
        Want(title="Title", author=None, published=MIDNIGHT, paragraphs=("abc",)),
        "c1-controls",
    ),
    case(
        lines(HEADER, "A\tTitle", "", "a\tb"),
        Want(title="A Title", author=None, published=MIDNIGHT, paragraphs=("a\tb",)),
        "tab-kept-in-body-collapsed-in-title",
    ),
    case(
        lines(HEADER, "\x01\x02", "Title", "", P1),
        Want(title="Title", author=None, published=MIDNIGHT, paragraphs=(P1,)),
        "control-only-line-is-blank",
    ),
    # The header.
    case(
        lines(TITLE, "", BYLINE, "", REPEAT, "", P1, "", P2),
        Want(source=None, published=BY_MTIME, warnings=(NO_HEADER,)),
        "missing-header",
    ),
    case(
        lines("date 2021-13-45 UrduPoint.com", *FULL[1:]),
        Want(published=BY_MTIME, warnings=(BAD_DATE,)),
        "impossible-header-date",
    ),
    case(
        lines("date 2021-02-29 UrduPoint.com", *FULL[1:]),
        Want(published=BY_MTIME, warnings=("impossible date '2021-02-29'",)),
        "not-a-leap-year",
    ),
    case(
        lines("date 2020-02-29 UrduPoint.com", *FULL[1:]),
        Want(published=datetime(2020, 2, 29, 11, tzinfo=KARACHI)),
        "leap-day",
    ),
    case(
        lines("date 0001-01-01 UrduPoint.com", TITLE, "", P1, "", P2),
        Want(author=None, published=BY_MTIME, warnings=("date '0001-01-01' is out of range",)),
        "year-1-east-of-utc",
    ),
    case(
        lines("date 9999-12-31 UrduPoint.com", *FULL[1:]),
        Want(published=datetime(9999, 12, 31, 11, tzinfo=KARACHI)),
        "year-9999",
    ),
    case(lines(" " + HEADER, *FULL[1:]), Want(), "header-leading-space"),
    case(lines("\t DATE 2021-01-02 UrduPoint.com  ", *FULL[1:]), Want(), "header-upper-case"),
    case(lines("date 2021-01-02", *FULL[1:]), Want(source=None), "header-no-source"),
    case(lines("date 2021-01-02   ", *FULL[1:]), Want(source=None), "header-no-source-trailing"),
    case(
        lines("date 2021-01-02  Dawn \t News", *FULL[1:]),
        Want(source="Dawn News"),
        "header-source-spaces",
    ),
    case(lines("", "", HEADER, *FULL[1:]), Want(), "blank-lines-before-header"),
    # Scripts, emoji and markup: kept verbatim.
    case(
        lines(
            "date 2021-01-02 РИА Новости",
            "Лавров: сотрудничество без границ",
            "",
            "Фаизан Хашми 14 seconds ago Sat 02nd January 2021 | 11:00 AM",
            "",
            "ЛАВРОВ: СОТРУДНИЧЕСТВО БЕЗ ГРАНИЦ",
            "",
            "МОСКВА. Съезд прошёл, сэр, я здесь.",
        ),
        Want(
            title="Лавров: сотрудничество без границ",
            author="Фаизан Хашми",
            source="РИА Новости",
            paragraphs=("МОСКВА. Съезд прошёл, сэр, я здесь.",),
        ),
        "cyrillic",
    ),
    case(
        lines(
            HEADER,
            "中国外长：中俄合作没有上限",
            "",
            BYLINE,
            "",
            "反名提十，不名。",
            "",
            "要见老道。",
        ),
        Want(title="中国外长：中俄合作没有上限", paragraphs=("反名提十，不名。", "要见老道。")),
        "chinese",
    ),
    case(
        lines(
            "date 2021-01-02 اردو پوائنٹ",
            "چین کے وزیر خارجہ کا بیان",
            "",
            "فیضان ہاشمی 14 seconds ago Sat 02nd January 2021 | 11:00 AM",
            "",
            "\u200fماسکو: چین اور روس متفق ہیں۔",
        ),
        Want(
            title="چین کے وزیر خارجہ کا بیان",
            author="فیضان ہاشمی",
            source="اردو پوائنٹ",
            paragraphs=("\u200fماسکو: چین اور روس متفق ہیں۔",),
        ),
        "urdu-rtl",
    ),
    case(
        lines(HEADER, "🍁 Maple 🍁 leaves 🔥", "", BYLINE, "", "🍁🍁🍁", "", "👍🏽 👨‍👩‍👧"),
        Want(title="🍁 Maple 🍁 leaves 🔥", paragraphs=("🍁🍁🍁", "👍🏽 👨‍👩‍👧")),
        "emoji",
    ),
    case(
        lines(
            HEADER, "<script>alert(1)</script>", "", BYLINE, "", "Tom &amp; Jerry <b>&lt;</b> ]]>"
        ),
        Want(title="<script>alert(1)</script>", paragraphs=("Tom &amp; Jerry <b>&lt;</b> ]]>",)),
        "markup-verbatim",
    ),
    # Byline shapes.
    case(
        lines(
            HEADER, TITLE, "", "By Faizan Hashmi Sat 02nd January 2021 | 11:00 AM", "", P1, "", P2
        ),
        Want(),
        "byline-by-no-ago",
    ),
    case(
        lines(
            HEADER,
            TITLE,
            "",
            "Faizan Hashmi 3 hours ago Sat 02nd January 2021 | 12:00 AM",
            "",
            P1,
            "",
            P2,
        ),
        Want(published=MIDNIGHT),
        "byline-12-am",
    ),
    case(
        lines(
            HEADER,
            TITLE,
            "",
            "Faizan Hashmi 3 hours ago Sat 02nd January 2021 | 12:05 PM",
            "",
            P1,
            "",
            P2,
        ),
        Want(published=datetime(2021, 1, 2, 12, 5, tzinfo=KARACHI)),
        "byline-12-pm",
    ),
    case(
        lines(
            HEADER,
            TITLE,
            "",
            "Faizan Hashmi 3 hours ago Sat 02nd January 2021 | 11:59 PM",
            "",
            P1,
            "",
            P2,
        ),
        Want(published=datetime(2021, 1, 2, 23, 59, tzinfo=KARACHI)),
        "byline-11-59-pm",
    ),
    case(
        lines(
            HEADER, TITLE, "", "Faizan Hashmi 14 seconds ago Sat 02nd January 2021", "", P1, "", P2
        ),
        Want(published=MIDNIGHT),
        "byline-no-time",
    ),
    case(
        lines(HEADER, TITLE, "", "Faizan Hashmi Sat 02nd January 2021", "", P1, "", P2),
        Want(published=MIDNIGHT),
        "byline-no-ago-no-time",
    ),
    case(
        lines(HEADER, TITLE, "", "14 seconds ago Sat 02nd January 2021 | 11:00 AM", "", P1, "", P2),
        Want(author=None),
        "byline-no-author",
    ),
    case(
        lines(HEADER, TITLE, "", "Faizan Hashmi Sun 03rd January 2021 | 11:00 AM", "", P1, "", P2),
        Want(),
        "byline-date-differs-header-wins",
    ),
    case(
        lines(TITLE, "", BYLINE, "", P1, "", P2),
        Want(source=None, published=BY_MTIME, warnings=(NO_HEADER,)),
        "byline-time-but-no-header",
    ),
    # Body text that looks a little like a byline, or a headline that does.
    case(
        lines(HEADER, TITLE, "", "10 years ago, the city flooded.", "", P2),
        Want(author=None, published=MIDNIGHT, paragraphs=("10 years ago, the city flooded.", P2)),
        "body-starting-with-ago",
    ),
    case(
        lines(
            HEADER,
            "Flood remembered 5 years ago",
            "",
            "Flood Remembered 5 Years Ago",
            "",
            BYLINE,
            "",
            P1,
        ),
        Want(title="Flood remembered 5 years ago", paragraphs=(P1,)),
        "headline-with-ago-repeated",
    ),
    # Paragraphs.
    case(
        lines(
            HEADER,
            TITLE,
            "",
            BYLINE,
            "",
            "  first line  ",
            "second line",
            "",
            "",
            "",
            "  ",
            "third",
            "\t",
            "",
        ),
        Want(paragraphs=("first line second line", "third")),
        "paragraphs-joined-and-split",
    ),
    case(
        lines(HEADER, TITLE), Want(author=None, published=MIDNIGHT, paragraphs=()), "headline-only"
    ),
    case(
        lines(HEADER, TITLE, "", BYLINE, "", REPEAT, "", ""),
        Want(paragraphs=()),
        "headline-byline-repeat-only",
    ),
    case(
        lines(TITLE),
        Want(author=None, source=None, published=BY_MTIME, paragraphs=(), warnings=(NO_HEADER,)),
        "one-line",
    ),
]


@pytest.mark.parametrize(("raw", "want"), CASES)
def test_parse(raw: bytes, want: Want) -> None:
    article = parse("news/a.txt", raw, mtime=MTIME, tz=KARACHI)
    assert article.id == "tag:feedd.invalid,2021:news/a.txt"
    assert article.path == "news/a.txt"
    assert article.title == want.title
    assert article.author == want.author
    assert article.source == want.source
    assert article.published == want.published
    assert article.published.utcoffset() == want.published.utcoffset()
    assert article.updated == max(want.published, BY_MTIME)
    assert article.paragraphs == want.paragraphs
    assert article.summary == (want.paragraphs[0] if want.paragraphs else "")
    assert len(article.warnings) == len(want.warnings), article.warnings
    for warning, fragment in zip(article.warnings, want.warnings, strict=True):
        assert fragment in warning


def test_real_seed() -> None:
    article = parse(
        "seeds/000_1a328842afac22b4.txt", REAL_SEED.read_bytes(), mtime=MTIME, tz=KARACHI
    )
    assert article.title == (
        "China's Foreign Minister Hails Prospects Of Strategic Cooperation With Russia As Limitless"
    )
    assert article.author == "Faizan Hashmi"
    assert article.source == "UrduPoint.com"
    assert article.published == AT_11
    assert article.updated == BY_MTIME
    assert len(article.paragraphs) == 5
    assert article.summary.startswith("MOSCOW (UrduPoint News / Sputnik - 02nd January, 2021) ")
    assert article.summary.endswith("Chinese Foreign Minister Wang Yi told Chinese media.")
    assert article.paragraphs[-1].endswith("when COVID-19 broke out.")
    assert article.warnings == ()


def test_year_9999_west_of_utc_is_out_of_range() -> None:
    raw = lines("date 9999-12-31 X", TITLE, BYLINE.replace("11:00 AM", "11:00 PM"))
    article = parse("a.txt", raw, mtime=MTIME, tz=ZoneInfo("America/New_York"))
    assert article.published == datetime.fromtimestamp(MTIME, UTC)
    assert article.warnings == ("date '9999-12-31' is out of range in UTC; dated by the file",)


@pytest.mark.parametrize(
    ("tz", "utc"),
    [
        pytest.param(KARACHI, datetime(2021, 1, 2, 6, 0, tzinfo=UTC), id="asia-karachi"),
        pytest.param(UTC, datetime(2021, 1, 2, 11, 0, tzinfo=UTC), id="utc"),
        pytest.param(
            ZoneInfo("America/New_York"), datetime(2021, 1, 2, 16, 0, tzinfo=UTC), id="new-york"
        ),
        pytest.param(
            timezone(timedelta(hours=-3)), datetime(2021, 1, 2, 14, 0, tzinfo=UTC), id="fixed"
        ),
    ],
)
def test_published_is_local_time_of_day(tz: tzinfo, utc: datetime) -> None:
    article = parse("a.txt", lines(*FULL), mtime=MTIME, tz=tz)
    assert article.published == utc
    assert article.published.replace(tzinfo=None) == datetime(2021, 1, 2, 11, 0)


@pytest.mark.parametrize(
    ("mtime", "updated"),
    [
        pytest.param(AT_11.timestamp() - 3600, AT_11, id="mtime-before-published"),
        pytest.param(AT_11.timestamp(), AT_11, id="mtime-equal"),
        pytest.param(AT_11.timestamp() + 60, AT_11 + timedelta(minutes=1), id="mtime-after"),
    ],
)
def test_updated_is_the_later_of_mtime_and_published(mtime: float, updated: datetime) -> None:
    article = parse("a.txt", lines(*FULL), mtime=mtime, tz=KARACHI)
    assert article.published == AT_11
    assert article.updated == updated


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\xef\xbb\xbf", "empty", id="bom-only"),
        pytest.param(b"  \n\t\r\n\r  \n", "whitespace", id="whitespace"),
        pytest.param("\u3000\u00a0\n".encode(), "whitespace", id="unicode-whitespace"),
        pytest.param(b"\x01" + b" " * 100, "whitespace", id="control-then-whitespace"),
        pytest.param(b"date 2021-01-02 X\nTi\x00tle\n", "NUL", id="nul-byte"),
        pytest.param(bytes(range(1, 32)) * 10, "control", id="mostly-controls"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG", id="png"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG", id="jpeg"),
        pytest.param(b"GIF89a\x01\x00", "GIF", id="gif"),
        pytest.param(b"%PDF-1.4\n", "PDF", id="pdf"),
        pytest.param(b"date 2021-01-02 UrduPoint.com\n", "no headline", id="header-only"),
        pytest.param(
            b"date 2021-01-02 UrduPoint.com\n\n \n\t\n", "no headline", id="header-blanks"
        ),
        pytest.param(b" date 2021-13-45\r\n", "no headline", id="bad-header-only"),
    ],
)
def test_rejected(raw: bytes, fragment: str) -> None:
    with pytest.raises(ArticleError) as raised:
        parse("a.txt", raw, mtime=MTIME, tz=KARACHI)
    assert fragment in raised.value.reason
    assert str(raised.value) == raised.value.reason


@pytest.mark.parametrize(
    ("path", "id"),
    [
        pytest.param("a.txt", "tag:feedd.invalid,2021:a.txt", id="plain"),
        pytest.param("news/2021/a.txt", "tag:feedd.invalid,2021:news/2021/a.txt", id="nested"),
        pytest.param("my file#1.txt", "tag:feedd.invalid,2021:my%20file%231.txt", id="quoted"),
        pytest.param("خبر.txt", "tag:feedd.invalid,2021:%D8%AE%D8%A8%D8%B1.txt", id="unicode"),
    ],
)
def test_id_is_minted_from_the_path(path: str, id: str) -> None:
    assert entry_id(path) == id
    assert parse(path, lines(*FULL), mtime=MTIME, tz=KARACHI).id == id
    assert parse(path, lines("Other", "", "text"), mtime=0, tz=UTC).id == id


def test_distinct_paths_distinct_ids() -> None:
    paths = ["a.txt", "a.txt/", "b/a.txt", "a%20.txt", "a .txt", "caf\udce9.txt", "caf\xe9.txt"]
    assert len({entry_id(p) for p in paths}) == len(paths)


_ANY_PATH = st.text(st.characters(blacklist_categories=()), min_size=1, max_size=20)


@given(_ANY_PATH, _ANY_PATH)
def test_ids_are_one_to_one_over_any_path(first: str, second: str) -> None:
    assert (entry_id(first) == entry_id(second)) == (first == second)
    assert entry_id(first).isascii()


# Properties. -------------------------------------------------------------------------------------

_TZS = st.sampled_from(
    [
        UTC,
        KARACHI,
        ZoneInfo("America/New_York"),
        ZoneInfo("Pacific/Kiritimati"),
        timezone(-timedelta(hours=11)),
    ]
)
_MTIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)
_FRAGMENTS = st.sampled_from(
    [
        b"date 2021-01-02 UrduPoint.com\n",
        b" date 2021-13-45\n",
        b"date 9999-12-31 X\n",
        b"date 0001-01-01\n",
        BYLINE.encode(),
        b" 1 day ago ",
        b"| 12:00 AM",
        b"\n",
        b"\r\n",
        b"\r",
        b"\xef\xbb\xbf",
        b"\x00",
        b"\x1b",
        b"\x7f",
        b"\x93",
        b"\xe9",
        "\ufffe".encode(),
        "🍁".encode(),
        "反名".encode(),
        b"<b>&amp;",
        b" ",
        b"\t",
    ]
)
_ANY_BYTES = st.binary(max_size=2000) | st.lists(
    _FRAGMENTS | st.binary(max_size=6), max_size=40
).map(b"".join)


def _accepted(raw: bytes, mtime: float, tz: tzinfo, path: str = "a.txt") -> Article | None:
    try:
        return parse(path, raw, mtime=mtime, tz=tz)
    except ArticleError as error:
        assert error.reason
        return None


@settings(max_examples=500, deadline=None)
@given(raw=_ANY_BYTES, mtime=_MTIMES, tz=_TZS)
def test_any_bytes_give_an_article_or_an_article_error(
    raw: bytes, mtime: float, tz: tzinfo
) -> None:
    article = _accepted(raw, mtime, tz)
    if article is None:
        return
    assert article.title
    assert article.title == article.title.strip()
    assert all(article.paragraphs)
    for text in [article.title, article.author or "", article.source or "", *article.paragraphs]:
        assert not XML_FORBIDDEN.search(text), text
        assert "\n" not in text
    assert article.updated >= article.published
    assert article.published.tzinfo is tz
    # Feeds and HTTP headers state instants in UTC.
    assert article.published.astimezone(UTC) <= article.updated.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(raw1=_ANY_BYTES, raw2=_ANY_BYTES, path=_ANY_PATH)
def test_id_depends_only_on_the_path(raw1: bytes, raw2: bytes, path: str) -> None:
    raw1, raw2 = b"Headline\n" + raw1, b"Other headline\n\n" + raw2
    first, second = _accepted(raw1, MTIME, UTC, path), _accepted(raw2, 0, KARACHI, path)
    assume(first is not None and second is not None)
    assert [article.id for article in (first, second) if article] == [entry_id(path)] * 2


_LINE_CHARS = st.characters(
    blacklist_categories=["Cs", "Cc", "Zl", "Zp"], blacklist_characters="\ufffe\uffff\ufeff"
)
_LINE = st.text(_LINE_CHARS, min_size=1, max_size=40).filter(lambda s: s.strip())
_WORD = st.text(st.characters(whitelist_categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=10)
_MONTHS = "January February March April May June July August September October November December"


@st.composite
def _articles(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    """A well-formed article's bytes, and the fields its parse must give back."""
    day = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    source = draw(st.none() | st.lists(_WORD, min_size=1, max_size=3).map(" ".join))
    title = draw(_LINE)
    author = draw(st.none() | st.lists(_WORD, min_size=1, max_size=3).map(" ".join))
    at = draw(st.none() | st.times().map(lambda t: t.replace(second=0, microsecond=0)))
    paragraphs = draw(st.lists(st.lists(_LINE, min_size=1, max_size=3), max_size=4))
    head = [f"date {day.isoformat()}" + (f" {source}" if source else ""), title]
    byline = None
    if draw(st.booleans()):
        byline = f"{author or ''} {draw(st.sampled_from(['', '2 hours ago ']))}"
        byline += f"{day:%a} {day.day:02}th {_MONTHS.split()[day.month - 1]} {day.year}"
        if at is not None:
            byline += f" | {(at.hour % 12) or 12}:{at.minute:02} {'PM' if at.hour >= 12 else 'AM'}"
    extra = [line for line in [byline, title.upper() if draw(st.booleans()) else None] if line]
    if draw(st.booleans()):
        extra.reverse()
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    body = [sep.join(lines) for lines in paragraphs]
    text = sep.join(head) + sep + "".join(sep + line + sep for line in [*extra, *body])
    expected_paragraphs = tuple(" ".join(line.strip() for line in lines) for lines in paragraphs)
    # Ambiguous by construction: a body that starts like a byline or a repeated headline.
    first = paragraphs[0][0] if paragraphs else None
    if first is not None and byline is None:
        assume(parse_byline(first) is None)
    if first is not None:
        assume(" ".join(first.split()).casefold() != " ".join(title.split()).casefold())
    assume(title.upper().casefold() == title.casefold())
    assume(not (author or "").lower().startswith("by "))
    return text.encode(), {
        "title": " ".join(title.split()),
        "author": author if byline else None,
        "source": source,
        "published": datetime.combine(day, (at if byline and at else time()), tzinfo=KARACHI),
        "paragraphs": expected_paragraphs,
    }


@settings(max_examples=300, deadline=None)
@given(_articles())
def test_well_formed_articles_are_recovered(generated: tuple[bytes, dict[str, object]]) -> None:
    raw, fields = generated
    article = parse("a.txt", raw, mtime=MTIME, tz=KARACHI)
    assert {name: getattr(article, name) for name in fields} == fields
    assert article.warnings == ()


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("2021-01-02", date(2021, 1, 2)),
        ("2021/1/2", date(2021, 1, 2)),
        ("2021.01.02", date(2021, 1, 2)),
        ("02/01/2021", date(2021, 1, 2)),  # day first, as the sources of this format write it
        ("2-1-2021", date(2021, 1, 2)),
    ],
)
def test_every_date_shape_the_header_admits_is_read(written: str, day: date) -> None:
    article = parse("a.txt", lines(f"date {written} Wire", TITLE, "Body."), mtime=MTIME, tz=UTC)
    assert article.published.date() == day and article.source == "Wire"
    assert article.warnings == ()


@pytest.mark.parametrize("written", ["2021-13-01", "2021/02/30", "31/02/2021", "99/99/9999"])
def test_an_impossible_header_date_is_dated_by_the_file(written: str) -> None:
    article = parse("a.txt", lines(f"date {written} Wire", TITLE, "Body."), mtime=MTIME, tz=UTC)
    assert article.published == datetime.fromtimestamp(MTIME, UTC)
    assert article.warnings == (f"impossible date {written!r} in the header; dated by the file",)


@settings(max_examples=500, deadline=None)
@given(raw=_ANY_BYTES | _articles().map(lambda generated: generated[0]), mtime=_MTIMES, tz=_TZS)
def test_a_head_only_parse_says_what_the_whole_parse_says(
    raw: bytes, mtime: float, tz: tzinfo
) -> None:
    """A cold scan reads only heads, which must agree with the article a page is built from."""
    try:
        article = parse("a.txt", raw, mtime=mtime, tz=tz)
    except ArticleError as error:
        with pytest.raises(ArticleError) as head_error:
            parse_head(raw, mtime=mtime, tz=tz)
        assert head_error.value.reason == error.reason
        return
    head = parse_head(raw, mtime=mtime, tz=tz)
    assert head == Head(article.published, article.updated, article.source, article.warnings)
