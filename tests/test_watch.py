"""Turning watchfiles' absolute paths into the relative paths the publisher reads."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from feedd.watch import relative_paths

ROOT = "/srv/feedd/seeds"

names = st.sampled_from(["a", "b.txt", ".hidden", ".", "..", "", "seeds", "x y"])
paths = st.builds(
    lambda start, parts: "/".join([start, *parts]),
    st.sampled_from([ROOT, "/srv/feedd", "/srv/feedd/seeds2", "/"]),
    st.lists(names, max_size=4),
)


def by_relpath(root: str, path: str) -> set[str]:
    """The plain definition: `os.path.relpath`, keeping what stays inside `root`."""
    rel = os.path.relpath(path, root)
    if rel == ".":
        return {""}
    return set() if rel == ".." or rel.startswith("../") else {rel}


@given(st.lists(paths, max_size=6))
def test_the_fast_cut_agrees_with_relpath(batch: list[str]) -> None:
    expected = set().union(*(by_relpath(ROOT, path) for path in batch))
    assert relative_paths(ROOT, batch) == expected
