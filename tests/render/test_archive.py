"""Archive pages (RFC 5005): every archived entry on exactly one page, and the links between
pages walk all of them, whatever the dates and the page size."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from feedd.library.entries import Key
from feedd.render.archive import Archive

zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-8, minutes=-30))]
)
instants = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=zones
)
near = st.datetimes(
    min_value=datetime(2020, 11, 25), max_value=datetime(2021, 3, 5), timezones=zones
)


def archive(dates: list[datetime], size: int) -> Archive:
    keys: list[Key] = sorted((d, d, f"a{i}.txt") for i, d in enumerate(dates))
    return Archive(tuple(keys), size)


def month(key: Key) -> tuple[int, int]:
    published = key[0].astimezone(UTC)
    return published.year, published.month


@given(st.lists(st.one_of(near, instants), max_size=60), st.integers(1, 7))
def test_pages_cover_every_entry_once_and_link_both_ways(dates: list[datetime], size: int) -> None:
    history = archive(dates, size)
    pages = history.pages()
    assert [i for page in pages for i in range(page.start, page.stop)] == list(range(len(dates)))
    assert history.newest() == (pages[-1] if pages else None)
    for older, newer in itertools.pairwise(pages):
        assert history.next(older) == newer and history.previous(newer) == older
    if pages:
        assert history.previous(pages[0]) is None and history.next(pages[-1]) is None
    names = [page.name for page in pages]
    assert len(set(names)) == len(names)
    for page in pages:
        assert 1 <= page.stop - page.start <= size
        assert history.page(page.name) == page
        keys = history.keys[page.start : page.stop]
        if all(key[0].year not in (1, 9999) for key in keys):
            assert {month(key) for key in keys} == {tuple(map(int, page.name.split("-")[:2]))}


@given(st.lists(st.one_of(near, instants), min_size=1, max_size=60), st.integers(1, 7), st.data())
def test_pages_since_a_key_are_the_pages_from_the_one_listing_it(
    dates: list[datetime], size: int, data: st.DataObject
) -> None:
    history = archive(dates, size)
    since = data.draw(st.integers(0, len(dates) - 1))
    pages = history.pages()
    at = pages.index(history.page_at(since))
    assert history.pages(since) == pages[at:]


def test_names_follow_the_calendar_and_only_real_pages_resolve() -> None:
    jan = [datetime(2021, 1, d, tzinfo=UTC) for d in range(1, 6)]
    history = archive([*jan, datetime(2021, 3, 1, tzinfo=UTC)], 2)
    assert [p.name for p in history.pages()] == ["2021-01", "2021-01-2", "2021-01-3", "2021-03"]
    for missing in ("2021-02", "2021-01-4", "2021-01-1", "2021-13", "0000-01", "2021-1", "x"):
        assert history.page(missing) is None, missing
    assert Archive((), 50).newest() is None and Archive((), 50).pages() == []
    # A date east of UTC on New Year's day belongs to December in UTC.
    east = datetime(2021, 1, 1, 2, tzinfo=timezone(timedelta(hours=5)))
    assert [p.name for p in archive([east], 5).pages()] == ["2020-12"]
