"""One article file: bytes in, an `Article` or an `ArticleError` out. Pure, so it can be fuzzed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from urllib.parse import quote

from dateutil import parser as dateparser

from feedd.byline import Byline, parse_byline
from feedd.text import binary_reason, decode

# Bump when a change here would parse the same bytes differently: it invalidates caches.
PARSER_VERSION = 1

# Entry ids are minted from the path alone: they survive edits of the text and moves of the
# site (base_url), so readers never see an article twice.
_ID_PREFIX = "tag:feedd.invalid,2021:"

_HEADER = re.compile(
    r"^\s*date\s+(?P<date>\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4})(?:\s+(?P<source>.*?))?\s*$",
    re.IGNORECASE,
)


class ArticleError(ValueError):
    """The file is not an article; `reason` says why, in a publisher's words."""

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
    """The RFC 4151 tag URI of the article at `path`."""
    return _ID_PREFIX + quote(path, safe="/")


def parse(path: str, raw: bytes, *, mtime: float, tz: tzinfo) -> Article:
    """Parse the bytes of the file at `path` (relative), last modified at `mtime` (epoch seconds).

    Raises `ArticleError` for anything that is not an article, and nothing else.
    """
    reason = binary_reason(raw)
    if reason:
        raise ArticleError(reason)
    text, warnings = decode(raw)
    if not text.strip():
        raise ArticleError("empty file" if not text else "only whitespace")
    lines = [line.strip() for line in text.split("\n")]
    cursor = _Cursor(lines)

    header = _HEADER.match(cursor.peek() or "")
    day: date | None = None
    source: str | None = None
    if header:
        cursor.take()
        source = " ".join((header["source"] or "").split()) or None
        try:
            day = dateparser.isoparse(header["date"]).date()
        except (ValueError, OverflowError):
            warnings += (f"impossible date {header['date']!r} in the header; dated by the file",)
    else:
        warnings += ("no 'date YYYY-MM-DD SOURCE' header; dated by the file",)

    title = " ".join((cursor.take() or "").split())
    if not title:
        raise ArticleError("no headline")
    byline = _take_byline_and_repeat(cursor, title)

    modified = datetime.fromtimestamp(mtime, tz)
    if day is None:
        published = modified
    else:
        at = byline.time_of_day if byline and byline.time_of_day else time()
        published = datetime.combine(day, at, tzinfo=tz)
    return Article(
        id=entry_id(path),
        path=path,
        title=title,
        author=byline.author if byline else None,
        source=source,
        published=published,
        updated=max(modified, published),
        paragraphs=_paragraphs(cursor.rest()),
        warnings=warnings,
    )


def _take_byline_and_repeat(cursor: _Cursor, title: str) -> Byline | None:
    """Consume the optional byline and the optional repeat of the headline, in either order."""
    byline = None
    repeat_seen = False
    for _ in range(2):
        line = cursor.peek()
        if line is None:
            break
        if byline is None and (found := parse_byline(line)):
            byline = found
        elif not repeat_seen and " ".join(line.split()).casefold() == title.casefold():
            repeat_seen = True
        else:
            break
        cursor.take()
    return byline


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
    """Walks the non-blank lines of the header block; body paragraphs keep their blank lines."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._at = 0

    def _skip_blank(self) -> None:
        while self._at < len(self._lines) and not self._lines[self._at]:
            self._at += 1

    def peek(self) -> str | None:
        self._skip_blank()
        return self._lines[self._at] if self._at < len(self._lines) else None

    def take(self) -> str | None:
        line = self.peek()
        self._at += line is not None
        return line

    def rest(self) -> list[str]:
        return self._lines[self._at :]
