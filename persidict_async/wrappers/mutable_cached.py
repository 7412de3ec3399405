"""MutableDictCached: a mutable store read through local caches revalidated by ETag."""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeVar

from ..base import Expect, PersiDict, Record
from ..errors import BackendError
from ..keys import NonEmptySafeStrTuple, SafeStrTuple
from ._common import WrapperDict, check_data_cache, check_store

__all__ = ["MutableDictCached"]

V = TypeVar("V")

# An etag-cache entry is "<main etag>\n<data-cache etag>": the second half ties the
# entry to one exact write of the data cache, so a data cache rewritten by someone
# else (shared caches, a crash between the two cache writes) is detected as a miss
# instead of being served as the value of the main ETag.
_SEP = "\n"


class MutableDictCached(WrapperDict[V]):
    """A store whose reads are served from caches while the main store's ETag is unchanged.

    Each read asks the main store for the key with ``if_none_match`` set to the
    cached ETag (on S3 a conditional GET; a 304 serves the cache), so a value
    written by another process or instance is never read stale. Writes go to the
    main store first, then to the caches; a write the main store refuses (a failed
    condition) leaves the caches untouched. Listing, ETags and timestamps come from
    the main store.

    Args:
        main_dict: The authoritative store.
        data_cache: Holds copies of the values (same serialization_format as main).
        etag_cache: Holds the ETags the copies belong to (any format able to hold str).
        serialization_format: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        append_only: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        base_class_for_values: See :class:`~persidict_async.wrappers._common.WrapperDict`.
    """

    _backend_name: ClassVar[str] = "cached"

    def __init__(
        self,
        *,
        main_dict: PersiDict[Any],
        data_cache: PersiDict[Any],
        etag_cache: PersiDict[Any],
        serialization_format: str | None = None,
        append_only: bool | None = None,
        base_class_for_values: type | None = None,
    ) -> None:
        main = check_store("main_dict", main_dict)
        data = check_data_cache(main, data_cache)
        etags = check_store("etag_cache", etag_cache)
        for name, cache in (("data_cache", data), ("etag_cache", etags)):
            if cache.append_only:
                raise ValueError(f"{name} can't be append-only: cached entries get replaced")
        etag_base = etags.base_class_for_values
        if etag_base is not None and not issubclass(str, etag_base):
            raise ValueError(f"etag_cache must be able to hold str, not only {etag_base.__name__}")
        super().__init__(
            main=main,
            parts=(main, data, etags),
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )
        self._data = data
        self._etags = etags

    @property
    def main_dict(self) -> PersiDict[Any]:
        """The authoritative store."""
        return self._main

    @property
    def data_cache(self) -> PersiDict[Any]:
        """The cache of values."""
        return self._data

    @property
    def etag_cache(self) -> PersiDict[Any]:
        """The cache of ETags."""
        return self._etags

    def _param_dict(self) -> dict[str, Any]:
        return {
            **super()._param_dict(),
            "main_dict": self._main,
            "data_cache": self._data,
            "etag_cache": self._etags,
        }

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        for name in ("main_dict", "data_cache", "etag_cache"):
            params[name] = params[name]._subdict(prefix)
        return type(self)(**params)

    # ------------------------------------------------------------------ caches

    async def _cached_etags(self, key: NonEmptySafeStrTuple) -> tuple[str, str] | None:
        """(main ETag, data-cache ETag) of the cached copy, or None."""
        record = await self._etags._read(key)
        if record is None or record.data is None:
            return None
        try:
            entry = self._etags._decode(key, record.data)
        except (BackendError, TypeError, ValueError):
            return None  # a damaged cache entry is only a miss
        if not isinstance(entry, str) or _SEP not in entry:
            return None
        main_etag, _, data_etag = entry.rpartition(_SEP)
        return main_etag, data_etag

    async def _fill(self, key: NonEmptySafeStrTuple, etag: str, data: bytes) -> None:
        data_etag = await self._data._write(key, data, None)
        if data_etag is None:
            return
        entry = self._etags._encode(key, f"{etag}{_SEP}{data_etag}")
        await self._etags._write(key, entry, None)

    async def _purge(self, key: NonEmptySafeStrTuple) -> None:
        await self._etags._delete(key, None)
        await self._data._delete(key, None)

    # ------------------------------------------------------------------ primitives

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        cached = await self._cached_etags(key)
        if cached is None:
            record = await self._main._read(key, if_none_match)
            if record is not None and record.data is not None:
                await self._fill(key, record.etag, record.data)
            return record
        main_etag, data_etag = cached
        record = await self._main._read(key, main_etag)
        if record is None:
            await self._purge(key)
            return None
        if record.data is None:
            if record.etag == main_etag:
                copy = await self._data._read(key)
                if copy is not None and copy.data is not None and copy.etag == data_etag:
                    return Record(record.etag, record.mtime, record.size, copy.data)
            if if_none_match == record.etag:
                return record  # the caller needs no data
            record = await self._main._read(key)
            if record is None:
                await self._purge(key)
                return None
        if record.data is not None:
            await self._fill(key, record.etag, record.data)
        return record

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        etag = await self._main._write(key, data, expect)
        if etag is not None:
            await self._fill(key, etag, data)
        return etag

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        deleted = await self._main._delete(key, expect)
        if deleted:
            await self._purge(key)
        return deleted
