"""In-memory stores: LocalDict (thread-safe) and EmptyDict (a sink)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Self, TypeVar

from .base import Expect, Mutation, PersiDict, Record
from .flags import ITEM_NOT_AVAILABLE
from .keys import NonEmptySafeStrTuple, SafeStrTuple, to_prefix, trusted_key

__all__ = ["EmptyDict", "LocalDict", "MemoryBackend"]

V = TypeVar("V")

# ETags come from one process-wide counter: every write gets a new one.
_etags = itertools.count(1)

_Entry = tuple[bytes, int, float]
"""What a table holds per key: (data, ETag number, mtime); a plain tuple is the
cheapest thing to build on the write path, records are made only when asked."""


def _record(entry: _Entry, with_data: bool = True) -> Record:
    data, etag, mtime = entry
    return Record(str(etag), mtime, len(data), data if with_data else None)


class MemoryBackend:
    """The shared storage behind LocalDicts: one table per serialization format.

    Several LocalDicts (subdicts, or several formats of an OverlappingMultiDict)
    share one backend. Pickling a backend copies its data.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: dict[str, dict[tuple[str, ...], _Entry]] = {}

    def table(self, serialization_format: str) -> dict[tuple[str, ...], _Entry]:
        """The table of one format (created on first use)."""
        with self.lock:
            return self.tables.setdefault(serialization_format, {})

    def __getstate__(self) -> dict[str, Any]:
        with self.lock:
            return {"tables": {fmt: dict(t) for fmt, t in self.tables.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.tables = state["tables"]

    def __repr__(self) -> str:
        return f"MemoryBackend(<{sum(len(t) for t in self.tables.values())} values>)"


class LocalDict(PersiDict[V]):
    """A thread-safe in-memory store; values are kept serialised, so isolated.

    Args:
        backend: Storage to share with other LocalDicts (a new one if None).
        root_prefix: Key components under which this store lives in the backend.
        serialization_format: See :class:`PersiDict`.
        append_only: See :class:`PersiDict`.
        base_class_for_values: See :class:`PersiDict`.
        ttl: See :class:`PersiDict`.
        signing_key: See :class:`PersiDict`.
    """

    _backend_name: ClassVar[str] = "memory"

    @property
    def does_blocking_io(self) -> bool:
        """False: memory operations never block."""
        return False

    def __init__(
        self,
        *,
        backend: MemoryBackend | None = None,
        root_prefix: Any = (),
        serialization_format: str = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        ttl: float | None = None,
        signing_key: bytes | str | None = None,
    ) -> None:
        super().__init__(
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            ttl=ttl,
            signing_key=signing_key,
        )
        if backend is not None and not isinstance(backend, MemoryBackend):
            raise TypeError(f"backend must be a MemoryBackend, got {type(backend).__name__}")
        self.backend = backend if backend is not None else MemoryBackend()
        self.root_prefix = to_prefix(root_prefix)
        self._prefix = tuple(self.root_prefix)
        self._table = self.backend.table(serialization_format)
        self._lock = self.backend.lock

    def _param_dict(self) -> dict[str, Any]:
        return {**super()._param_dict(), "backend": self.backend, "root_prefix": self.root_prefix}

    def _full(self, key: NonEmptySafeStrTuple) -> tuple[str, ...]:
        return self._prefix + key if self._prefix else key

    _reads_now = True

    def _read_data_now(self, key: NonEmptySafeStrTuple) -> bytes | None:
        entry = self._table.get(self._prefix + key if self._prefix else key)
        return None if entry is None else entry[0]

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        return self._read_data_now(key)

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        return self._read_now(key, if_none_match)

    def _read_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        entry = self._table.get(self._full(key))
        if entry is None:
            return None
        record = _record(entry)
        if if_none_match is not None and record.etag == if_none_match:
            record.data = None
        return record

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        entry = self._table.get(self._full(key))
        return None if entry is None else _record(entry, with_data=False)

    _writes_now: ClassVar[bool] = True

    def _write_now(self, key: NonEmptySafeStrTuple, data: bytes) -> int:
        etag = next(_etags)
        entry = (data, etag, time.time())
        lock = self._lock
        lock.acquire()  # cheaper than `with` on this hot path
        try:
            self._table[self._prefix + key if self._prefix else key] = entry
        finally:
            lock.release()
        return etag

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        if expect is None:
            return str(self._write_now(key, data))
        full = self._full(key)
        with self._lock:
            current = self._table.get(full)
            if expect is ITEM_NOT_AVAILABLE:
                if current is not None:
                    return None
            elif current is None or str(current[1]) != expect:
                return None
            entry = self._table[full] = (data, next(_etags), time.time())
        return str(entry[1])

    async def _apply_if(
        self,
        key: NonEmptySafeStrTuple,
        decide: Callable[[Record | None], bool],
        data: bytes | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        # One decision under the lock: no optimistic retries needed in memory.
        full = self._full(key)
        with self._lock:
            entry = self._table.get(full)
            record = None if entry is None else _record(entry, want_data or data_if_kept)
            if not decide(record):
                return Mutation(record, False)
            if data is None:
                if entry is not None:
                    del self._table[full]
                return Mutation(record, True)
            new = (data, next(_etags), time.time())
            self._table[full] = new
        return Mutation(record, True, str(new[1]))

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        full = self._full(key)
        with self._lock:
            current = self._table.get(full)
            if current is None or (expect is not None and str(current[1]) != expect):
                return False
            del self._table[full]
            return True

    def _snapshot(self) -> list[tuple[tuple[str, ...], _Entry]]:
        with self._lock:
            return list(self._table.items())

    async def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        n = len(self._prefix)
        for full, entry in self._snapshot():
            if len(full) > n and full[:n] == self._prefix:
                yield trusted_key(full[n:]), _record(entry, with_data=False) if with_meta else None

    async def _count(self) -> int:
        if not self._prefix:
            return len(self._table)
        return await super()._count()

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        params["root_prefix"] = self.root_prefix + prefix
        return type(self)(**params)


class EmptyDict(PersiDict[V]):
    """A store that accepts every write and keeps nothing (always empty)."""

    _backend_name: ClassVar[str] = "empty"

    @property
    def does_blocking_io(self) -> bool:
        """False: nothing is ever stored."""
        return False

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        return None

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        return None

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        if expect is not None and expect is not ITEM_NOT_AVAILABLE:
            return None  # nothing is ever present, so no ETag can match
        return str(next(_etags))

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        return False

    async def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        return
        yield  # an async generator with nothing to give

    async def _count(self) -> int:
        return 0

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        return type(self)(**self._param_dict())
