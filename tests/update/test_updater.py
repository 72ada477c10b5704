"""The updater thread: one batch at a time, and a first site however the first batch went."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import article, wait_for

from feedd.config import Settings
from feedd.render.renderer import Renderer
from feedd.render.site import Site
from feedd.update import updater
from feedd.update.updater import Update, Updater


def test_a_first_update_that_fails_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the first update leaves no site to serve and no watcher to bring changes
    (it starts with the first site): without periodic rescans, nothing would try again."""
    (tmp_path / "a.txt").write_text(article("Alpha"))
    render = Renderer.site
    calls = []

    def fails_once(self: Renderer, library: object) -> Site:
        calls.append(library)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return render(self, library)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "site", fails_once)
    monkeypatch.setattr(updater, "_CHECK_SECONDS", 0.1)
    settings = Settings(seeds=tmp_path, cache=False, rescan_interval=0.0)
    updates: list[Update] = []
    running = Updater(settings, updates.append)
    running.start()
    try:
        wait_for(lambda: updates, what="a site after the failed first update")
    finally:
        running.stop()
    assert len(calls) == 2
    assert updates[0].site.articles == 1
