"""Which known paths lie below each folder, so that a change to a folder (renamed, deleted)
finds what was in it without a look at every known path."""

from __future__ import annotations

from collections.abc import Iterable


class FolderIndex:
    """Folder (relative path) to the known paths anywhere below it."""

    def __init__(self) -> None:
        # None while put off: made from what is known when first needed (see `fill`).
        self._under: dict[str, set[str]] | None = {}

    def put_off(self) -> None:
        """Index nothing until `fill`: a warm start's first site does not need the index."""
        self._under = None

    def fill(self, known: Iterable[str]) -> None:
        """Index the `known` paths, if indexing was put off; else nothing."""
        if self._under is None:
            self._under = {}
            for path in known:
                self.add(path)

    def add(self, path: str) -> None:
        if self._under is None:
            return  # (made from what is known when first needed)
        folder = path
        while "/" in folder:
            folder = folder.rsplit("/", 1)[0]
            self._under.setdefault(folder, set()).add(path)

    def discard(self, path: str) -> None:
        if self._under is None:
            return
        folder = path
        while "/" in folder:
            folder = folder.rsplit("/", 1)[0]
            under = self._under.get(folder)
            if under is not None:
                under.discard(path)
                if not under:
                    del self._under[folder]

    def below(self, folder: str) -> set[str]:
        """The known paths below `folder` (once filled)."""
        assert self._under is not None, "filled first"
        return self._under.get(folder, set())
