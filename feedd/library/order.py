"""The library's order: every entry's key, oldest first, and what is derived from it.

One entry at a time, keys go in and out by bisection; many at once, they are appended and
sorted once (`end_bulk`). The archive pages list a prefix of a copy of the order
(`OrderPrefix`), copied again only when the order changed within that prefix: a new article
goes in at the top, so an update does not copy every key.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from typing import overload

from feedd.library.entries import Key


class Order:
    """Entry keys oldest first, each source's keys, the sources touched since last asked, and
    the copy of the keys the archive keeps. Owned by the library's one writer."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.by_source: dict[str, list[Key]] = {}  # each source's keys, oldest first
        # Sources whose articles came, changed or went since `take_touched_sources()`.
        self._touched: set[str] = set()
        # The copy sites keep for their archive, and the lowest index of the keys changed
        # since it was taken: below that index the copy still holds (see `archived`).
        self._snapshot: tuple[Key, ...] = ()
        self._changed_from = 0

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: Key, source: str | None, *, bulk: bool = False) -> None:
        """Place `key` (of an article from `source`); in `bulk`, appended to be sorted by
        `end_bulk`."""
        if source is not None:
            self._touched.add(source)
            listed = self.by_source.setdefault(source, [])
            if bulk:
                listed.append(key)
            else:
                insort(listed, key)
        if bulk:
            self.keys.append(key)
            return
        at = bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self._changed_from = min(self._changed_from, at)

    def remove(self, key: Key, source: str | None) -> None:
        at = bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]
        else:  # being filled in bulk, not sorted yet
            at = 0
            self.keys.remove(key)
        self._changed_from = min(self._changed_from, at)
        if source is None:
            return
        self._touched.add(source)
        listed = self.by_source[source]
        at = bisect_left(listed, key)
        if at < len(listed) and listed[at] == key:
            del listed[at]
        else:  # being filled in bulk, not sorted yet
            listed.remove(key)
        if not listed:
            del self.by_source[source]

    def fill(self, keyed: list[tuple[Key, str | None]]) -> None:
        """Add keys with their sources, sorted already, to an empty order, in bulk."""
        self.keys.extend(key for key, _ in keyed)
        by_source = self.by_source
        for key, source in keyed:
            if source is not None:
                by_source.setdefault(source, []).append(key)
        self._touched.update(by_source)

    def end_bulk(self, *, in_order: bool) -> None:
        """Sort what was added in bulk, once (unless it was added `in_order`)."""
        if not in_order:
            self.keys.sort()
            for keys in self.by_source.values():
                keys.sort()
        self._changed_from = 0

    def newest(self, count: int) -> list[Key]:
        """The `count` newest keys, newest first."""
        return self.keys[-count:][::-1] if count > 0 else []

    def is_among_newest(self, key: Key, count: int) -> bool:
        """Whether `key` (in the order) is one of the `count` newest."""
        return len(self.keys) <= count or key >= self.keys[-count]

    def newest_of(self, source: str, count: int) -> list[Key]:
        """The `count` newest keys of `source`'s articles, newest first."""
        return self.by_source.get(source, [])[-count:][::-1] if count > 0 else []

    def archived(self, before: Key | None) -> OrderPrefix:
        """The keys older than `before` (None: every key), oldest first, unchanging: a site
        keeps them while the order moves on."""
        keys = self.keys
        end = len(keys) if before is None else bisect_left(keys, before)
        if self._changed_from < end:
            self._snapshot = tuple(keys)
            self._changed_from = len(keys)
        return OrderPrefix(self._snapshot, end)

    def take_touched_sources(self) -> set[str]:
        """The sources whose articles came, changed or went since the last call."""
        touched, self._touched = self._touched, set()
        return touched


class OrderPrefix(Sequence[Key]):
    """The first `length` keys of a copy of the order, as a sequence (bisection, slices)."""

    __slots__ = ("_keys", "_length")

    def __init__(self, keys: tuple[Key, ...], length: int) -> None:
        self._keys = keys
        self._length = length

    def __len__(self) -> int:
        return self._length

    def shared_with(self, other: Sequence[Key]) -> int:
        """How many leading keys this and `other` are known to share without comparing them:
        all of the shorter one's when both are prefixes of the same copy (the order is copied
        again only when it changed within the prefix asked for), else none."""
        if isinstance(other, OrderPrefix) and other._keys is self._keys:
            return min(self._length, other._length)
        return 0

    @overload
    def __getitem__(self, index: int) -> Key: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Key, ...]: ...

    def __getitem__(self, index: int | slice) -> Key | tuple[Key, ...]:
        if isinstance(index, slice):
            return self._keys[slice(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("key index out of range")
        return self._keys[index]
