"""LRUCachedDict: a bounded in-process read cache whose hits are validated by ETag."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from ..base import Expect, Mutation, PersiDict, Record
from ..keys import NonEmptySafeStrTuple, SafeStrTuple
from ._common import WrapperDict, check_store

__all__ = ["CacheStats", "LRUCachedDict"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of an :class:`LRUCachedDict`'s counters.

    Attributes:
        hits: Reads served from memory (after a successful check, or trusted).
        misses: Reads whose bytes came from the main store.
        validations: Checks sent to the main store for a cached entry
            (one stat on files, one conditional GET on S3).
        evictions: Entries dropped to respect the bounds.
        items: Entries held now.
        bytes: Bytes of stored values held now.
        max_items: The count bound (None: unbounded).
        max_bytes: The byte bound (None: unbounded).
    """

    hits: int
    misses: int
    validations: int
    evictions: int
    items: int
    bytes: int
    max_items: int | None
    max_bytes: int | None

    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses); 0.0 before the first read."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0


# A cache entry: (ETag, mtime or NaN, encoded value, monotonic time of the last check).
_Entry = tuple[str, float, bytes, float]
_ANY: Any = object()
_clock = time.monotonic  # the age of a check (a module global so tests can move time)


class _LRU:
    """The bounded, thread-safe table shared by a store and its subdicts."""

    def __init__(self, max_items: int | None, max_bytes: int | None) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self.nbytes = 0
        self.hits = self.misses = self.validations = self.evictions = 0

    def get(self, key: tuple[str, ...]) -> _Entry | None:
        """The entry of ``key`` (recency is updated by :meth:`hit`, once the hit is certain)."""
        # One C-level look-up of plain tuples of str: atomic under the GIL, no lock needed.
        return self.entries.get(key)

    def hit(self, key: tuple[str, ...], entry: _Entry, validated: bool, mtime: float | None) -> None:
        """Count a hit on ``entry``, make it the most recent; ``mtime``: it was just checked."""
        lock = self.lock
        lock.acquire()  # cheaper than `with` on the hot path
        try:
            self.hits += 1
            if validated:
                self.validations += 1
            if self.entries.get(key) is entry:
                if mtime is not None:
                    entry = self.entries[key] = (entry[0], mtime, entry[2], _clock())
                self.entries.move_to_end(key)
        finally:
            lock.release()

    def put(
        self, key: tuple[str, ...], etag: str, mtime: float, data: bytes, seen: Any = _ANY
    ) -> None:
        """Cache a value; with ``seen``, only if the entry is still that one (or None: absent).

        Reads pass what they saw before asking the main store, so an older answer
        never replaces what a concurrent write of this store cached meanwhile.
        """
        size = len(data)
        with self.lock:
            if seen is not _ANY and self.entries.get(key) is not seen:
                return
            old = self.entries.pop(key, None)
            if old is not None:
                self.nbytes -= len(old[2])
            if self.max_bytes is not None and size > self.max_bytes:
                return  # never fits: caching it would only flush everything else
            self.entries[key] = (etag, mtime, data, _clock())
            self.nbytes += size
            entries = self.entries
            while (self.max_items is not None and len(entries) > self.max_items) or (
                self.max_bytes is not None and self.nbytes > self.max_bytes
            ):
                _, dropped = entries.popitem(last=False)
                self.nbytes -= len(dropped[2])
                self.evictions += 1

    def drop(self, key: tuple[str, ...]) -> None:
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.nbytes -= len(old[2])

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.nbytes = 0

    def stats(self) -> CacheStats:
        with self.lock:
            return CacheStats(self.hits, self.misses, self.validations, self.evictions,
                              len(self.entries), self.nbytes, self.max_items,
                              self.max_bytes)  # fmt: skip


def _result(record: Record | None, data_only: bool) -> Any:
    """A read's answer: the record, or only its bytes."""
    if data_only:
        return None if record is None else record.data
    return record


def _bound(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


class LRUCachedDict(WrapperDict[V]):
    """A store read through a bounded in-process memory cache that never serves stale data.

    The cache keeps the encoded value and ETag of recently read or written keys,
    bounded by ``max_items`` and/or ``max_bytes`` (least recently used entries go
    first). Every hit is checked against the main store with its cheapest test
    that the ETag is unchanged: one ``stat`` on files, one conditional GET
    (answered 304, no body) on S3, a dict look-up in memory. So a value changed
    by another instance, process or machine is never served.

    With ``trust_seconds > 0`` a value read (``d[k]``, ``get``, ``get_many``,
    ``items``...) whose entry was checked less than ``trust_seconds`` ago is
    served without any check: a change made elsewhere may then go unseen for up
    to ``trust_seconds`` (changes made through this store are seen at once).
    ETag-aware reads (``get_with_etag``, ``get_item_if``, ``transform_item``)
    always check. An append-only main store is always trusted: its values never
    change.

    Writes, deletions and conditional operations go to the main store and then
    update the cache; a write the main store refuses leaves no entry behind.
    Listing, ``in``, ETags and timestamps always ask the main store. The cache
    is shared with the store's subdicts and never pickled: a rebuilt or
    unpickled store starts empty. It is thread-safe.

    Args:
        main_dict: The authoritative store.
        max_items: At most this many entries (None: no count bound).
        max_bytes: At most this many bytes of encoded values (None: no byte bound);
            a single value larger than this is not cached.
        trust_seconds: Serve value reads checked less than this long ago unchecked.
        serialization_format: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        append_only: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        base_class_for_values: See :class:`~persidict_async.wrappers._common.WrapperDict`.
    """

    _backend_name: ClassVar[str] = "lru-cached"

    def __init__(
        self,
        *,
        main_dict: PersiDict[Any],
        max_items: int | None = 10_000,
        max_bytes: int | None = None,
        trust_seconds: float = 0.0,
        serialization_format: str | None = None,
        append_only: bool | None = None,
        base_class_for_values: type | None = None,
    ) -> None:
        main = check_store("main_dict", main_dict)
        max_items = _bound("max_items", max_items)
        max_bytes = _bound("max_bytes", max_bytes)
        if max_items is None and max_bytes is None:
            raise ValueError("give max_items and/or max_bytes: an unbounded cache only grows")
        if isinstance(trust_seconds, bool) or not isinstance(trust_seconds, (int, float)):
            raise TypeError(f"trust_seconds must be a number, got {trust_seconds!r}")
        if not trust_seconds >= 0 or math.isinf(trust_seconds):
            raise ValueError(f"trust_seconds must be finite and >= 0, got {trust_seconds!r}")
        super().__init__(
            main=main,
            parts=(main,),
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.trust_seconds = float(trust_seconds)
        self._lru = _LRU(max_items, max_bytes)
        self._prefix: tuple[str, ...] = ()
        # Values of an append-only store never change, so a cached copy needs no check.
        self._trust = math.inf if main.append_only else self.trust_seconds
        self._reads_now = main._reads_now

    @property
    def main_dict(self) -> PersiDict[Any]:
        """The authoritative store."""
        return self._main

    def cache_stats(self) -> CacheStats:
        """Counters and sizes of the cache (shared with subdicts)."""
        return self._lru.stats()

    def clear_cache(self) -> None:
        """Drop every cached entry (the stored data is untouched)."""
        self._lru.clear()

    def _param_dict(self) -> dict[str, Any]:
        return {
            **super()._param_dict(),
            "main_dict": self._main,
            "max_items": self.max_items,
            "max_bytes": self.max_bytes,
            "trust_seconds": self.trust_seconds,
        }

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        params["main_dict"] = self._main._subdict(prefix)
        sub = type(self)(**params)
        sub._lru = self._lru  # one bound and one set of counters for the whole tree
        sub._prefix = self._prefix + tuple(prefix)
        return sub

    def _slot(self, key: NonEmptySafeStrTuple) -> tuple[str, ...]:
        # A plain tuple: its comparisons in the table stay in C.
        return self._prefix + tuple(key)

    def _keep(self, slot: tuple[str, ...], record: Record | None, seen: Any = _ANY) -> None:
        """Cache what a read of the main store found (drop the entry if absent)."""
        if record is None:
            self._lru.drop(slot)
        elif record.data is not None:
            self._lru.put(slot, record.etag, record.mtime, record.data, seen)

    # ------------------------------------------------------------------ reads

    def _missed(self, slot: tuple[str, ...], record: Record | None, data_only: bool) -> Any:
        """Count a miss and cache what the main store returned; its bytes or the record."""
        lru = self._lru
        with lru.lock:
            lru.misses += 1
        self._keep(slot, record, None)
        return _result(record, data_only)

    def _trusted(self, slot: tuple[str, ...], entry: _Entry) -> bool:
        """Whether ``entry`` may be served unchecked (counted as a hit if so)."""
        if _clock() - entry[3] < self._trust:
            self._lru.hit(slot, entry, False, None)
            return True
        return False

    def _confirmed(self, slot: tuple[str, ...], entry: _Entry, record: Record | None) -> bool:
        """Whether the check of ``entry`` (``record``) found it current (counted as a hit if so)."""
        if record is None or record.data is not None or record.etag != entry[0]:
            return False
        # The time of the check is noted only where recent checks are trusted.
        mtime = (entry[1] if math.isnan(record.mtime) else record.mtime) if self._trust else None
        self._lru.hit(slot, entry, True, mtime)
        return True

    @staticmethod
    def _served(entry: _Entry, check: Record, if_none_match: str | None, data_only: bool) -> Any:
        """What a read answers from a confirmed ``entry``: its bytes or a record."""
        if data_only:
            return entry[2]
        etag = entry[0]
        mtime = entry[1] if math.isnan(check.mtime) else check.mtime
        return Record(etag, mtime, len(entry[2]), None if if_none_match == etag else entry[2])

    def _changed(
        self, slot: tuple[str, ...], entry: _Entry, record: Record | None, data_only: bool
    ) -> Any:
        """The check found ``entry`` out of date: count a miss, cache the new state, return it."""
        lru = self._lru
        with lru.lock:
            lru.validations += 1
            lru.misses += 1
        self._keep(slot, record, entry)
        return _result(record, data_only)

    # One cached read, with two drivers: awaiting the main store, and calling it directly
    # (the sync facade over a local main store, where a hit then needs no coroutine).
    # ``data_only``: the answer is the bytes (trusted entries may be served unchecked);
    # otherwise a record (ETag-aware reads always check: their callers act on the ETag).
    async def _lookup(self, key: NonEmptySafeStrTuple, if_none_match: str | None, data_only: bool) -> Any:
        slot = self._prefix + tuple(key)  # inlined _slot
        entry = self._lru.entries.get(slot)
        if entry is None:
            return self._missed(slot, await self._main._read(key, if_none_match), data_only)
        if data_only and self._trust and self._trusted(slot, entry):
            return entry[2]
        record = await self._main._read(key, entry[0])
        if self._confirmed(slot, entry, record):
            assert record is not None
            return self._served(entry, record, if_none_match, data_only)
        if record is not None and record.data is None:
            # Data-less only for a matching ETag by contract; read again to be safe.
            record = await self._main._read(key)
        return self._changed(slot, entry, record, data_only)

    def _lookup_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None, data_only: bool) -> Any:
        slot = self._prefix + tuple(key)
        entry = self._lru.entries.get(slot)
        if entry is None:
            return self._missed(slot, self._main._read_now(key, if_none_match), data_only)
        if data_only and self._trust and self._trusted(slot, entry):
            return entry[2]
        record = self._main._read_now(key, entry[0])
        if self._confirmed(slot, entry, record):
            assert record is not None
            return self._served(entry, record, if_none_match, data_only)
        if record is not None and record.data is None:
            record = self._main._read_now(key)
        return self._changed(slot, entry, record, data_only)

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        record: Record | None = await self._lookup(key, if_none_match, False)
        return record

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        data: bytes | None = await self._lookup(key, None, True)
        return data

    def _read_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        record: Record | None = self._lookup_now(key, if_none_match, False)
        return record

    def _read_data_now(self, key: NonEmptySafeStrTuple) -> bytes | None:
        data: bytes | None = self._lookup_now(key, None, True)
        return data

    # ------------------------------------------------------------------ mutations

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        slot = self._slot(key)
        try:
            etag = await self._main._write(key, data, expect)
        except BaseException:
            self._lru.drop(slot)  # the outcome is unknown
            raise
        if etag is None:
            # Refused: whatever is cached may be the state that made it fail.
            self._lru.drop(slot)
        else:
            # The time is unknown until the next check asks the main store.
            self._lru.put(slot, etag, math.nan, data)
        return etag

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        slot = self._slot(key)
        try:
            return await self._main._delete(key, expect)
        finally:
            # Deleted, refused (the entry may be stale) or failed: the entry goes either way.
            self._lru.drop(slot)

    async def _apply_if(
        self,
        key: NonEmptySafeStrTuple,
        decide: Callable[[Record | None], bool],
        data: bytes | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        # The main store decides atomically (in one step where it can); the cache follows.
        slot = self._slot(key)
        try:
            done = await self._main._apply_if(key, decide, data, want_data, data_if_kept)
        except BaseException:
            self._lru.drop(slot)
            raise
        if done.applied:
            if data is None:
                self._lru.drop(slot)
            else:
                assert done.etag is not None
                self._lru.put(slot, done.etag, math.nan, data)
        elif done.before is None or done.before.data is not None:
            self._keep(slot, done.before)
        else:
            entry = self._lru.get(slot)
            if entry is not None and entry[0] != done.before.etag:
                self._lru.drop(slot)
        return done
