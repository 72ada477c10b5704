"""Complete history (RFC 5005 archived feeds): every article older than the main feeds' is in
exactly one archive page.

Pages follow the calendar: each month's archived articles, oldest first, cut into pages of at
most `size` (`2021-01`, `2021-01-2`, ...). A page changes only when an article in it changes,
or when the main feeds let an article go into it, so caches can keep pages for long. Months
with nothing archived have no page; `prev-archive` and `next-archive` step over them.

Everything is computed from the archived entries' sort keys, oldest first (a snapshot the
site holds), with bisection: a lookup costs O(log n) whatever the size of the folder.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedd.library.entries import Key

_NAME = re.compile(r"(\d{4})-(\d{2})(?:-([1-9]\d{0,8}))?")


@dataclass(frozen=True, slots=True)
class Page:
    """One archive page: its name and the slice of archived keys it lists (oldest first)."""

    name: str
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Archive:
    keys: Sequence[Key]  # every archived entry, oldest first; must not change
    size: int  # at most this many entries a page

    def newest(self) -> Page | None:
        """The page the main feeds link to as `prev-archive`."""
        if not self.keys or self.size < 1:
            return None
        start, stop = self._month(_month_of(self.keys[-1]))
        return self._page(start, stop, (stop - start - 1) // self.size + 1)

    def page(self, name: str) -> Page | None:
        """The page called `name`, if there is one."""
        match = _NAME.fullmatch(name)
        if match is None or self.size < 1:
            return None
        year, month, number = int(match[1]), int(match[2]), int(match[3] or 1)
        if not (year >= 1 and 1 <= month <= 12) or match[3] == "1":
            return None  # `2021-01-1` is `2021-01`: one name a page
        start, stop = self._month((year, month))
        if start == stop or (number - 1) * self.size >= stop - start:
            return None
        return self._page(start, stop, number)

    def previous(self, page: Page) -> Page | None:
        """The next older page (`prev-archive`)."""
        if page.start == 0:
            return None
        month_start, month_stop = self._month(_month_of(self.keys[page.start]))
        if page.start > month_start:
            return self._page(month_start, month_stop, (page.start - month_start) // self.size)
        start, stop = self._month(_month_of(self.keys[page.start - 1]))
        return self._page(start, stop, (stop - start - 1) // self.size + 1)

    def next(self, page: Page) -> Page | None:
        """The next newer page (`next-archive`); None for the newest, whose next is the main feed."""
        if page.stop >= len(self.keys):
            return None
        month_start, month_stop = self._month(_month_of(self.keys[page.start]))
        if page.stop < month_stop:
            return self._page(month_start, month_stop, (page.stop - month_start) // self.size + 1)
        start, stop = self._month(_month_of(self.keys[page.stop]))
        return self._page(start, stop, 1)

    def pages(self, since: int = 0) -> list[Page]:
        """Every page, oldest first (for `feedd build` and `--publish`, which write them all):
        a month at a time, its pages by arithmetic. `since`: only the page that lists
        `keys[since]` and the ones after it."""
        found: list[Page] = []
        if self.size < 1:
            return found
        start = since  # the loop goes back to the start of its month
        while start < len(self.keys):
            year, month = _month_of(self.keys[start])
            start, stop = self._month((year, month))
            skip = max(0, (since - start) // self.size)  # pages of the month before `since`
            for number, first in enumerate(
                range(start + skip * self.size, stop, self.size), skip + 1
            ):
                name = f"{year:04d}-{month:02d}" + (f"-{number}" if number > 1 else "")
                found.append(Page(name, first, min(first + self.size, stop)))
            start = stop
        return found

    def page_at(self, index: int) -> Page:
        """The page that lists `keys[index]`."""
        start, stop = self._month(_month_of(self.keys[index]))
        return self._page(start, stop, (index - start) // self.size + 1)

    def first(self) -> Page | None:
        if not self.keys or self.size < 1:
            return None
        start, stop = self._month(_month_of(self.keys[0]))
        return self._page(start, stop, 1)

    def _month(self, month: tuple[int, int]) -> tuple[int, int]:
        """The slice of keys published in `month` (UTC; the first and last months datetime
        can hold are open-ended, for dates whose UTC instant it cannot hold)."""
        year, number = month
        start = 0 if month == _FIRST else bisect_left(self.keys, (_begin(year, number),))
        if month == _LAST:
            return start, len(self.keys)
        following = (year + 1, 1) if number == 12 else (year, number + 1)
        return start, bisect_left(self.keys, (_begin(*following),))

    def _page(self, month_start: int, month_stop: int, number: int) -> Page:
        year, month = _month_of(self.keys[month_start])
        name = f"{year:04d}-{month:02d}" + (f"-{number}" if number > 1 else "")
        start = month_start + (number - 1) * self.size
        return Page(name, start, min(start + self.size, month_stop))


_FIRST, _LAST = (1, 1), (9999, 12)


def _begin(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def _month_of(key: Key) -> tuple[int, int]:
    try:
        published = key[0].astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999 west of it
        return _FIRST if key[0].year == 1 else _LAST
    return max(_FIRST, min(_LAST, (published.year, published.month)))
