"""Shared pytest setup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import article


@pytest.fixture(autouse=True, scope="session")
def _cache_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The daemons and commands the tests start keep their article cache out of ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """Two articles, for the daemon's tests; modules that need other ones define their own."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / "a.txt").write_text(article("Alpha"))
    (folder / "b.txt").write_text(article("Bravo", day="2021-01-03"))
    return folder
