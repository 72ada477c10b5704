"""One article file: bytes in, an `Article` or an `ArticleError` out. Pure, so it can be fuzzed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import NamedTuple
from urllib.parse import quote

from dateutil import parser as dateparser

from feedd.parse.byline import Byline, parse_byline
from feedd.parse.text import NotText, text_of

# Bump when a change here would parse the same bytes differently: it invalidates caches.
PARSER_VERSION = 3  # 3: header dates in any of the shapes the header admits

# Entry ids are minted from the path alone: they survive edits of the text and moves of the
# site (base_url), so readers never see an article twice.
_ID_PREFIX = "tag:feedd.invalid,2021:"

_HEADER = re.compile(
    r"^\s*date\s+(?P<date>\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4})(?:\s+(?P<source>.*?))?\s*$",
    re.IGNORECASE,
)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR_FIRST = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")

# The modification times `datetime` can hold in any zone (a day in from either end of its range).
# tmpfs, btrfs and xfs keep times far outside it: `touch -d @253402300800` is year 10000.
_EARLIEST_MTIME = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LATEST_MTIME = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


class ArticleError(ValueError):
    """The file is not an article; `reason` says why, in words for whoever wrote it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Article:
    """An article as readers get it. `path` is relative to the folder, with `/` separators."""

    id: str
    path: str
    title: str
    author: str | None
    source: str | None
    published: datetime
    updated: datetime
    paragraphs: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return self.paragraphs[0] if self.paragraphs else ""


def entry_id(path: str) -> str:
    """The RFC 4151 tag URI of the article at `path`.

    Total and one-to-one over any `str`: a name that is not UTF-8 reaches us with lone surrogates
    (as `os.fsdecode` makes them), which plain UTF-8 cannot encode.
    """
    return _ID_PREFIX + quote(path.encode("utf-8", "surrogatepass"), safe="/")


@dataclass(frozen=True, slots=True)
class Head:
    """What ordering and routing need of an article, without its text: what a scan keeps of
    most articles, what a worker process sends back and what the cache keeps."""

    published: datetime
    updated: datetime
    source: str | None
    warnings: tuple[str, ...]


class _Front(NamedTuple):
    """The article above its body, and where the body starts."""

    title: str
    author: str | None
    source: str | None
    published: datetime
    updated: datetime
    warnings: tuple[str, ...]
    body: _Cursor


def parse(path: str, raw: bytes, *, mtime: float, tz: tzinfo) -> Article:
    """Parse the bytes of the file at `path` (relative), last modified at `mtime` (epoch seconds).

    Raises `ArticleError` for anything that is not an article, and nothing else.
    """
    front = _parse_front(raw, mtime, tz, whole=True)
    return Article(
        id=entry_id(path),
        path=path,
        title=front.title,
        author=front.author,
        source=front.source,
        published=front.published,
        updated=front.updated,
        paragraphs=_paragraphs(front.body.rest()),
        warnings=front.warnings,
    )


def parse_head(raw: bytes, *, mtime: float, tz: tzinfo) -> Head:
    """What `parse` would say of the article's dates and source, or the same `ArticleError`;
    the body is left unread (a cold scan parses every file for this, and the paragraphs were
    a fifth of the work)."""
    front = _parse_front(raw, mtime, tz, whole=False)
    return Head(front.published, front.updated, front.source, front.warnings)


def _parse_front(raw: bytes, mtime: float, tz: tzinfo, *, whole: bool) -> _Front:
    """The front of the article; `whole=False` leaves the author out (a head has none)."""
    try:
        text, warnings = text_of(raw)
    except NotText as error:
        raise ArticleError(str(error)) from None
    if not text or text.isspace():
        raise ArticleError("empty file" if not text else "only whitespace")
    cursor = _Cursor(text)

    header = _HEADER.match(cursor.peek() or "")
    day: date | None = None
    source: str | None = None
    if header:
        cursor.take()
        source = " ".join((header["source"] or "").split()) or None
        try:
            day = _header_day(header["date"])
        except (ValueError, OverflowError):
            warnings += (f"impossible date {header['date']!r} in the header; dated by the file",)
    else:
        warnings += ("no 'date YYYY-MM-DD SOURCE' header; dated by the file",)

    title = " ".join((cursor.take() or "").split())
    if not title:
        raise ArticleError("no headline")
    byline = _take_byline_and_repeat(cursor, title, whole)

    if not _EARLIEST_MTIME <= mtime <= _LATEST_MTIME:
        clamped = _EARLIEST_MTIME if mtime < _EARLIEST_MTIME else _LATEST_MTIME
        warnings += (
            f"modification time {mtime:.0f} is out of range; taken as "
            f"{datetime.fromtimestamp(clamped, UTC).date().isoformat()}",
        )
        mtime = clamped
    modified = datetime.fromtimestamp(mtime, tz)
    published = modified
    if day is not None:
        at = byline.time_of_day if byline and byline.time_of_day else time()
        stated = datetime.combine(day, at, tzinfo=tz)
        if _in_utc_range(stated):
            published = stated
        else:
            warnings += (f"date '{day}' is out of range in UTC; dated by the file",)
    author = byline.author if byline else None
    return _Front(title, author, source, published, max(modified, published), warnings, cursor)


def _header_day(text: str) -> date:
    """The header's date: YYYY-MM-DD without dateutil (nearly every file), other year-first
    shapes (`2021/1/2`, `2021.01.02`) read the same way, and day-first ones (`02/01/2021`, as
    the sources this format comes from write them) by dateutil. Raises ValueError."""
    if _ISO_DAY.fullmatch(text):
        return date.fromisoformat(text)
    year_first = _YEAR_FIRST.fullmatch(text)
    if year_first:
        return date(*map(int, year_first.groups()))
    return dateparser.parse(text, dayfirst=True, default=datetime(1, 1, 1)).date()


def _in_utc_range(when: datetime) -> bool:
    """Whether `when` has a UTC equivalent: feeds and HTTP headers state instants in UTC, and
    0001-01-01 east of Greenwich (or 9999-12-31 west of it) has none."""
    if 1 < when.year < 9999:  # an offset is under a day: only the first and last years can fail
        return True
    try:
        when.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _take_byline_and_repeat(cursor: _Cursor, title: str, whole: bool) -> Byline | None:
    """Consume the optional byline and the optional repeat of the headline, in either order."""
    byline = None
    repeat_seen = False
    folded = title.casefold()
    for _ in range(2):
        line = cursor.peek()
        if line is None:
            break
        # The repeat first: a headline such as "Flood remembered 5 years ago" reads as a byline.
        if not repeat_seen and _repeats(line, folded):
            repeat_seen = True
        elif byline is None and (found := parse_byline(line, whole=whole)):
            byline = found
        else:
            break
        cursor.take()
    return byline


def _repeats(line: str, folded_title: str) -> bool:
    """Whether the stripped `line` is the headline again, but for case and spacing. The first
    characters settle it for nearly every body paragraph, without folding all its words."""
    if not folded_title.startswith(line[0].casefold()):
        return False
    return " ".join(line.split()).casefold() == folded_title


def _paragraphs(lines: list[str]) -> tuple[str, ...]:
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return tuple(paragraphs)


class _Cursor:
    """Walks the non-blank lines of the header block; body paragraphs keep their blank lines.
    Lines are found and stripped as they are looked at: a head-only parse never splits the
    body, and a whole parse splits it once."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._at = 0  # where the current line starts; past the end when none is left
        self._line: str | None = None  # the current line stripped, once peeked
        self._next = 0  # where the line after the peeked one starts

    def peek(self) -> str | None:
        if self._line is not None:
            return self._line
        text = self._text
        at = self._at
        while at <= len(text):
            end = text.find("\n", at)
            if end < 0:
                end = len(text)
            line = text[at:end].strip()
            if line:
                self._at, self._line, self._next = at, line, end + 1
                return line
            at = end + 1
        self._at = at
        return None

    def take(self) -> str | None:
        line = self.peek()
        if line is not None:
            self._at, self._line = self._next, None
        return line

    def rest(self) -> list[str]:
        if self._at > len(self._text):
            return []
        return [line.strip() for line in self._text[self._at :].split("\n")]
