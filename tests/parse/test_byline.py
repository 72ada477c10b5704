"""Bylines: `Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM` and its variants."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from feedd.parse.byline import _EXACT_SHAPE, Byline, _match_exactly, parse_byline

JAN2 = date(2021, 1, 2)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "Faizan Hashmi 14 seconds ago Sat 02nd January 2021 | 11:00 AM",
            Byline("Faizan Hashmi", JAN2, time(11, 0)),
            id="urdupoint",
        ),
        pytest.param(
            "Faizan Hashmi Sat 02nd January 2021 | 11:00 AM",
            Byline("Faizan Hashmi", JAN2, time(11, 0)),
            id="no-ago",
        ),
        pytest.param(
            "Faizan Hashmi 14 seconds ago Sat 02nd January 2021",
            Byline("Faizan Hashmi", JAN2, None),
            id="no-time",
        ),
        pytest.param(
            "Faizan Hashmi Sat 02nd January 2021",
            Byline("Faizan Hashmi", JAN2, None),
            id="no-ago-no-time",
        ),
        pytest.param(
            "By Faizan Hashmi Sat 02nd January 2021 | 11:00 AM",
            Byline("Faizan Hashmi", JAN2, time(11, 0)),
            id="by-author",
        ),
        pytest.param(
            "by Staff Reporter, 2 January 2021 | 09:05",
            Byline("Staff Reporter", JAN2, time(9, 5)),
            id="by-lowercase-24h",
        ),
        pytest.param(
            "Faizan Hashmi 1 hour ago Sat 02nd January 2021 | 12:00 AM",
            Byline("Faizan Hashmi", JAN2, time(0, 0)),
            id="12-am-is-midnight",
        ),
        pytest.param(
            "Faizan Hashmi 1 hour ago Sat 02nd January 2021 | 12:30 PM",
            Byline("Faizan Hashmi", JAN2, time(12, 30)),
            id="12-pm-is-noon",
        ),
        pytest.param(
            "Faizan Hashmi 2 days ago Sat 02nd January 2021 | 11:59 PM",
            Byline("Faizan Hashmi", JAN2, time(23, 59)),
            id="11-59-pm",
        ),
        pytest.param(
            "Faizan Hashmi Sat 02nd January 2021 | 1:07 a.m.",
            Byline("Faizan Hashmi", JAN2, time(1, 7)),
            id="dotted-am",
        ),
        pytest.param(
            "Faizan Hashmi Sat 02nd January 2021 | 13:00 PM",
            Byline("Faizan Hashmi", JAN2, None),
            id="impossible-time-dropped",
        ),
        pytest.param(
            "Faizan Hashmi an hour ago January 2, 2021 | 12:30 PM",
            Byline("Faizan Hashmi", JAN2, time(12, 30)),
            id="an-hour-ago-us-date",
        ),
        pytest.param(
            "By Faizan Hashmi, January 2, 2021 | 12:30 PM",
            Byline("Faizan Hashmi", JAN2, time(12, 30)),
            id="us-date-pipe-time",
        ),
        pytest.param(
            "14 seconds ago Sat 02nd January 2021 | 11:00 AM",
            Byline(None, JAN2, time(11, 0)),
            id="no-author",
        ),
        pytest.param(
            "Фаизан Хашми 3 minutes ago Sat 02nd January 2021 | 11:00 AM",
            Byline("Фаизан Хашми", JAN2, time(11, 0)),
            id="cyrillic-author",
        ),
        pytest.param(
            "فیضان ہاشمی 3 minutes ago Sat 02nd January 2021 | 11:00 AM",
            Byline("فیضان ہاشمی", JAN2, time(11, 0)),
            id="urdu-author",
        ),
        pytest.param(
            "Faizan   Hashmi\t 5 mins ago Sat 31st February 2021 | 11:00 AM",
            Byline("Faizan Hashmi", None, time(11, 0)),
            id="impossible-day-dropped",
        ),
        pytest.param(
            "Faizan Hashmi 5 mins ago May | 11:00 AM",
            Byline("Faizan Hashmi", None, time(11, 0)),
            id="partial-date-not-completed-from-today",
        ),
        # Not bylines: body text that merely mentions the past, or no marker at all.
        pytest.param("He left 5 years ago.", None, id="body-with-ago"),
        pytest.param("10 years ago, the city flooded.", None, id="body-starting-with-ago"),
        pytest.param("Town remembers flood 5 years ago", None, id="headline-with-ago"),
        pytest.param("Faizan Hashmi", None, id="name-only"),
        pytest.param("By Faizan Hashmi", None, id="by-name-only"),
        pytest.param("Staff | 11:00 PM", None, id="no-date-before-pipe"),
        pytest.param("MOSCOW (UrduPoint News / Sputnik) China and Russia", None, id="body"),
        pytest.param("", None, id="empty"),
        pytest.param("x" * 190 + " 2 January 2021", None, id="too-long"),
    ],
)
def test_parse_byline(line: str, expected: Byline | None) -> None:
    assert parse_byline(line) == expected


_FRAGMENTS = st.sampled_from(
    [
        "By ",
        " ago ",
        "14 seconds ago ",
        "an hour",
        "Sat ",
        "02nd ",
        "31st ",
        "January ",
        "May ",
        "2021",
        "0000",
        "9999",
        " | ",
        "|",
        "11:00",
        "12:",
        "99:99",
        " AM",
        "p.m.",
        ", ",
        "  ",
        "-",
    ]
)


@settings(max_examples=400)
@given(st.text(max_size=250) | st.lists(_FRAGMENTS | st.text(max_size=4)).map("".join))
def test_any_line_is_a_byline_or_none(line: str) -> None:
    result = parse_byline(line)
    assert result is None or isinstance(result, Byline)


@settings(max_examples=400)
@given(st.text(max_size=250) | st.lists(_FRAGMENTS | st.text(max_size=4)).map("".join))
@example("Sat\n02nd January 2021 | 11:00 AM")  # leftmost: the break comes after its start
@example("Joan\n02nd January 2021")  # ... and before it
@example("Xsat 123 jan 2021 | 9:05 pm")  # from the day on: its last digit
@example("By Joan 1 jan 2021 | 2 feb 2022 | 10:00")  # one year only ends the line
@example("By \u0663 \u0661\u0662 MAY 2021")  # Arabic-Indic digits; not ASCII
@example("\uff22y Joan 3rd \u017feptember 2021|7:00 a.m.")  # long s: a month only ignoring case
def test_a_byline_read_for_its_time_only_is_the_same_byline(line: str) -> None:
    """Dating an article asks only whether a line is a byline and its time of day (found
    from the day on, not where the author ends)."""
    whole, part = parse_byline(line), parse_byline(line, whole=False)
    assert (whole is None) == (part is None)
    if whole is not None and part is not None:
        assert part.time_of_day == whole.time_of_day


# The exact shape as it was matched before: a lazy author, then the shape, from the start.
_LAZY_AUTHOR = re.compile(rf"^(?P<author>.*?){_EXACT_SHAPE}", re.IGNORECASE)


@settings(max_examples=600)
@given(
    st.lists(_FRAGMENTS | st.text(max_size=4) | st.sampled_from(["\n", "Joan ", "Xsat ", "7"])).map(
        "".join
    )
)
@example("Joan\nSmith 02nd January 2021")  # the search would find it past the line break
@example("Simon 02nd January 2021")  # "mon" starts a weekday
def test_the_exact_shape_is_found_where_a_lazy_author_found_it(line: str) -> None:
    """The leftmost search for the shape gives what `^(?P<author>.*?)` gave: the same author
    (an author never spans a line break) and the same groups."""
    found, lazy = _match_exactly(line), _LAZY_AUTHOR.match(line)
    assert (found is None) == (lazy is None)
    if found is not None and lazy is not None:
        assert found.start() == lazy.end("author")
        assert found.span("date") == lazy.span("date")
        assert [(found[g] or "").lower() for g in ("day", "month", "year", "hour", "minute")] == [
            (lazy[g] or "").lower() for g in ("day", "month", "year", "hour", "minute")
        ]
        assert (found["meridiem"] or "").lower() == (lazy["meridiem"] or "").lower()


_MONTHS = "January February March April May June July August September October November December"
_NAME_WORD = st.text(st.characters(whitelist_categories=["Lu", "Ll"]), min_size=1, max_size=10)


@given(
    author=st.lists(_NAME_WORD, min_size=1, max_size=3).map(" ".join),
    ago=st.sampled_from(["", "14 seconds ago ", "an hour ago ", "3 days ago ", "1 year ago "]),
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    at=st.none() | st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    twelve_hour=st.booleans(),
)
def test_generated_bylines_are_recovered(
    author: str, ago: str, day: date, at: time | None, twelve_hour: bool
) -> None:
    assume(not author.lower().startswith("by "))  # "By X" is X's byline: tested above
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(day.day, "th")
    line = (
        f"{author} {ago}{day:%a} {day.day:02}{suffix} {_MONTHS.split()[day.month - 1]} {day.year}"
    )
    if at is not None:
        clock = f"{(at.hour % 12) or 12}:{at.minute:02} {'PM' if at.hour >= 12 else 'AM'}"
        line += f" | {clock if twelve_hour else f'{at:%H:%M}'}"
    assert parse_byline(line) == Byline(author, day, at)
