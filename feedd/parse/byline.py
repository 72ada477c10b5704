"""Read a byline: `Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from dateutil import parser as dateparser

_MAX_BYLINE_CHARS = 200

# "14 seconds ago", "an hour ago": the scraper's clock, meaningless to a reader and fatal to
# dateutil, so it is cut out before the date is read.
_AGO = r"(?:\d+|an?|one)\s+(?:sec(?:ond)?|min(?:ute)?|h(?:ou)?r|day|week|month|year)s?\s+ago"
# Lowercase throughout (see _EXACT_LOWERCASE); the other expressions ignore case.
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::\d{2})?\s*(?P<meridiem>[ap])?\.?(?:m\.?)?"

# The shape every UrduPoint byline has (the time may be missing), after its author: matched
# exactly, far cheaper than fuzzy dateutil. The author is what comes before the leftmost
# place the shape matches (a search, cheaper than a lazy `^(?P<author>.*?)`). An ASCII line is
# matched lowercased, without IGNORECASE, which slows the expression down.
_EXACT_SHAPE = (
    rf"\s*(?:{_AGO}\s*)?"
    rf"(?P<date>(?:{_WEEKDAY}\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<month>{_MONTH})\s+(?P<year>\d{{4}}))"
    rf"(?:\s*\|\s*{_TIME})?\s*$"
)
_EXACT = re.compile(_EXACT_SHAPE, re.IGNORECASE)
_EXACT_LOWERCASE = re.compile(_EXACT_SHAPE)
# The shape from its day's last digit on. A line has a match of it exactly when it has one of
# `_EXACT` (what comes before the day is optional, and a day may be one digit), and both end
# alike, with the same time: all a head needs. A search tries it at digits only.
_FROM_THE_DAY_SHAPE = rf"\d(?:st|nd|rd|th)?\s+{_MONTH}\s+\d{{4}}(?:\s*\|\s*{_TIME})?\s*$"
_FROM_THE_DAY = re.compile(_FROM_THE_DAY_SHAPE, re.IGNORECASE)
_FROM_THE_DAY_LOWERCASE = re.compile(_FROM_THE_DAY_SHAPE)
_AGO_ANYWHERE = re.compile(rf"\s*\b{_AGO}\b\s*", re.IGNORECASE)
_PIPE_TIME = re.compile(rf"^(?P<before>.*?)\s*\|\s*{_TIME}\s*$", re.IGNORECASE)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_BY = re.compile(r"^by\s+", re.IGNORECASE)
# What dateutil raises for text it cannot read: ValueError (its ParserError), and arithmetic
# errors for numbers it cannot hold: OverflowError, and decimal's InvalidOperation for a
# 29-digit number of minutes (`11:44444444444444444444444444444`).
_UNREADABLE = (ValueError, ArithmeticError)
# dateutil fills what a text leaves out from a default date (today, unless told): parsing with
# two defaults that differ in every field shows whether the text named a whole date.
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


@dataclass(frozen=True, slots=True)
class Byline:
    author: str | None
    day: date | None
    time_of_day: time | None


def parse_byline(line: str, *, whole: bool = True) -> Byline | None:
    """The byline in `line`, or None when the line is not one (a body paragraph, say).

    `whole=False`: only whether it is one and its time of day are wanted (dating an article);
    the author and the day of a byline of the exact shape are then left None, unread."""
    if len(line) > _MAX_BYLINE_CHARS:
        return None
    exact = _match_exactly(line, leftmost=whole) if _ends_with_year(line) else None
    if exact:
        hour = exact["hour"]
        at = _time_of_day(hour, exact["minute"], exact["meridiem"]) if hour else None
        if not whole:
            return Byline(None, None, at)
        return Byline(
            _author(line[: exact.start()]), _exact_day(exact) or _parse_day(exact["date"]), at
        )
    return _parse_loosely(line)


def _ends_with_year(line: str) -> bool:
    """Whether `line` ends as `_EXACT` requires, with four digits (a year) and maybe `| time`:
    most lines tried are body paragraphs, and they fail this in a microsecond, not in the
    expression's 50."""
    end = line.rstrip()
    if end[-4:].isdigit():
        return True
    before, bar, _ = end.rpartition("|")
    return bool(bar) and before.rstrip()[-4:].isdigit()


def _match_exactly(line: str, *, leftmost: bool = True) -> re.Match[str] | None:
    """`_EXACT`'s leftmost match, where an author without a line break ends; the groups of an
    ASCII line are lowercased, its positions the same. Not `leftmost`: `_FROM_THE_DAY`'s
    match instead, with no author nor date groups, but the same time groups."""
    if not leftmost and "\n" not in line:  # (a break before the leftmost match fails it)
        if line.isascii():
            return _FROM_THE_DAY_LOWERCASE.search(line.lower())
        return _FROM_THE_DAY.search(line)
    found = _EXACT_LOWERCASE.search(line.lower()) if line.isascii() else _EXACT.search(line)
    if found is None or "\n" in line[: found.start()]:
        return None
    return found


def _parse_loosely(line: str) -> Byline | None:
    """Bylines of other shapes: a relative-time phrase or a trailing `| time` marks them.

    A date or a time must follow too: "He left 5 years ago." opens a story, it is no byline.
    """
    ago = _AGO_ANYWHERE.search(line)
    pipe = _PIPE_TIME.match(line)
    time_of_day = _time_of_day(pipe["hour"], pipe["minute"], pipe["meridiem"]) if pipe else None
    if ago:
        author = line[: ago.start()]
        day = _parse_day(line[ago.end() :].split("|", 1)[0])
    elif pipe:
        try:
            _, skipped = dateparser.parse(pipe["before"], fuzzy_with_tokens=True, ignoretz=True)
        except _UNREADABLE:
            return None
        author = skipped[0] if skipped else ""
        day = _parse_day(pipe["before"], fuzzy=True)
    else:
        return None
    if day is None and time_of_day is None:
        return None
    return Byline(_author(author), day, time_of_day)


def _exact_day(match: re.Match[str]) -> date | None:
    """The date of an exactly matched byline, read without dateutil (the cheap common case)."""
    month = _MONTHS.get(match["month"][:3].lower())
    try:
        return date(int(match["year"]), month, int(match["day"])) if month else None
    except ValueError:
        return None


def _parse_day(text: str, *, fuzzy: bool = False) -> date | None:
    """The date `text` names in full, or None (rather than one completed from today's date)."""
    text = text.strip(" ,|")
    if not text:
        return None
    try:
        days = {
            dateparser.parse(text, default=d, fuzzy=fuzzy, ignoretz=True).date() for d in _DEFAULTS
        }
    except _UNREADABLE:
        return None
    return days.pop() if len(days) == 1 else None


def _time_of_day(hour: str, minute: str, meridiem: str | None) -> time | None:
    h, m = int(hour), int(minute)
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if meridiem.lower() == "p" else 0)
    if h > 23 or m > 59:
        return None
    return time(h, m)


def _author(text: str) -> str | None:
    author = _BY.sub("", " ".join(text.split())).strip(" ,|-")
    return author or None
