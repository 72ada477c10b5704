"""The fuzz target (tests/fuzz/fuzz_article.py): its property over the corpus, a short atheris
run, and the inputs it found that once broke the parse or render path."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import feedparser
import pytest

from feedd.parse.article import parse
from feedd.render import feeds

FUZZ = Path(__file__).resolve().parent / "fuzz"
CORPUS = FUZZ / "corpus"
TARGET = FUZZ / "fuzz_article.py"


def _load_target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_article", TARGET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz_article = _load_target()


def test_the_corpus_is_small() -> None:
    files = list(CORPUS.iterdir())
    assert 10 <= len(files) <= 60
    assert sum(f.stat().st_size for f in files) < 200_000


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_file_parses_and_renders_without_loss(path: Path) -> None:
    fuzz_article.check(path.read_bytes())


def test_a_short_atheris_run_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    found = tmp_path / "new"
    found.mkdir()
    # New inputs go to the first folder (a temporary one), never into the corpus.
    command = [
        sys.executable,
        str(TARGET),
        str(found),
        str(CORPUS),
        "-runs=3000",
        "-max_total_time=15",
        "-max_len=4096",
        "-seed=1",
        f"-artifact_prefix={tmp_path}/",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=100, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr


# Regressions: what the fuzzer found. -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mtime", "warning", "updated"),
    [
        pytest.param(
            253402300800.0,
            "modification time 253402300800 is out of range; taken as 9999-12-30",
            datetime(9999, 12, 30, tzinfo=UTC),
            id="year-10000-tmpfs",
        ),
        pytest.param(
            2.0**63,
            "out of range; taken as 9999-12-30",
            datetime(9999, 12, 30, tzinfo=UTC),
            id="past-time_t",
        ),
        pytest.param(
            -62135596801.0,
            "modification time -62135596801 is out of range; taken as 0001-01-02",
            datetime(1, 1, 2, tzinfo=UTC),
            id="before-year-1",
        ),
    ],
)
def test_a_modification_time_datetime_cannot_hold_is_clamped(
    mtime: float, warning: str, updated: datetime
) -> None:
    """tmpfs, btrfs and xfs keep any time `touch -d` gives: year 10000 once raised ValueError,
    which `feedd check` and `feedd build` died of."""
    article = parse("far.txt", b"Undated\n\nBody\n", mtime=mtime, tz=UTC)
    assert article.updated == article.published == updated
    assert any(warning in w for w in article.warnings), article.warnings
    dated = parse("far.txt", b"date 2021-01-02 X\nDated\n", mtime=mtime, tz=UTC)
    assert dated.published == datetime(2021, 1, 2, tzinfo=UTC)
    assert dated.updated == max(updated, dated.published)


@pytest.mark.parametrize("year", [1, 999])
def test_rss_dates_before_the_year_1000_keep_their_year(year: int) -> None:
    """feedgen writes RSS dates with strftime's `%Y`, which gave `1` for the year 1: readers
    took it for 2001."""
    raw = f"date {year:04d}-01-02 Old\nAncient\n\nText\n".encode()
    article = parse("old.txt", raw, mtime=0, tz=UTC)
    body = feeds.rss([article], fuzz_article.SITES[0])
    assert f", 02 Jan {year:04d} 00:00:00 +0000</pubDate>".encode() in body
    document = feedparser.parse(body)
    assert not document.bozo
    assert document.entries[0].published_parsed[:3] == (year, 1, 2)


@pytest.mark.parametrize(
    "byline",
    [
        pytest.param("By Jane Roe 11:" + "4" * 29 + " | 15:05", id="pipe-time"),
        pytest.param("Jane Roe 2 days ago 11:" + "4" * 29 + " 2021", id="ago"),
    ],
)
def test_a_number_dateutil_cannot_hold_is_no_byline(byline: str) -> None:
    """dateutil raises decimal's InvalidOperation, no ValueError, for 29 digits of minutes:
    it escaped the parser. The line is not a byline, so it is kept as the first paragraph."""
    article = parse("a.txt", f"Headline\n{byline}\n\nBody\n".encode(), mtime=0, tz=UTC)
    assert article.author is None
    assert article.paragraphs == (byline, "Body")
