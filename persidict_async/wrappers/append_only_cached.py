"""AppendOnlyDictCached: an append-only store read through a cache that is never revalidated."""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeVar

from ..base import Expect, PersiDict, Record
from ..flags import ITEM_NOT_AVAILABLE
from ..keys import NonEmptySafeStrTuple, SafeStrTuple
from ._common import WrapperDict, check_data_cache, check_store

__all__ = ["AppendOnlyDictCached"]

V = TypeVar("V")


class AppendOnlyDictCached(WrapperDict[V]):
    """An append-only store whose values, once cached, are read without asking the main store.

    A key of an append-only store never changes nor disappears, so a cached copy
    is always right: a cache hit makes no request to the main store, a miss reads
    the main store and fills the cache. ETags, timestamps, listing and
    conditional operations use the main store. Every mutation other than the
    first write of a key raises MutationPolicyError("append-only").

    Args:
        main_dict: The authoritative store; must be append-only.
        data_cache: Holds copies of the values (same serialization_format as main).
        serialization_format: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        append_only: Always True (accepted so that get_params() round-trips).
        base_class_for_values: See :class:`~persidict_async.wrappers._common.WrapperDict`.
    """

    _backend_name: ClassVar[str] = "append-only-cached"

    def __init__(
        self,
        *,
        main_dict: PersiDict[Any],
        data_cache: PersiDict[Any],
        serialization_format: str | None = None,
        append_only: bool | None = None,
        base_class_for_values: type | None = None,
    ) -> None:
        main = check_store("main_dict", main_dict)
        data = check_data_cache(main, data_cache)
        if not main.append_only:
            raise ValueError("main_dict must be append-only")
        if append_only is False:
            raise ValueError("an AppendOnlyDictCached is always append-only")
        super().__init__(
            main=main,
            parts=(main, data),
            serialization_format=serialization_format,
            append_only=True,
            base_class_for_values=base_class_for_values,
        )
        self._data = data

    @property
    def main_dict(self) -> PersiDict[Any]:
        """The authoritative store."""
        return self._main

    @property
    def data_cache(self) -> PersiDict[Any]:
        """The cache of values."""
        return self._data

    def _param_dict(self) -> dict[str, Any]:
        return {**super()._param_dict(), "main_dict": self._main, "data_cache": self._data}

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        params["main_dict"] = self._main._subdict(prefix)
        params["data_cache"] = self._data._subdict(prefix)
        return type(self)(**params)

    # ------------------------------------------------------------------ primitives

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        copy = await self._data._read_data(key)
        if copy is not None:
            return copy
        record = await self._read(key)
        return None if record is None else record.data

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        record = await self._main._read(key, if_none_match)
        if record is not None and record.data is not None:
            # Insert-if-absent: an existing copy is already right.
            await self._data._write(key, record.data, ITEM_NOT_AVAILABLE)
        return record

    async def contains(self, key: Any) -> bool:
        """Whether ``key`` is stored (a cached key is known to be, without asking main)."""
        if self._expiring:
            return await super().contains(key)  # the deadline is in the data
        k = self._key(key)
        return await self._data._stat(k) is not None or await self._main._stat(k) is not None

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        etag = await self._main._write(key, data, expect)
        if etag is not None:
            # The key was absent from main, so any copy under it is a leftover: replace it.
            await self._data._write(key, data, None)
        return etag

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        # Every public delete path refuses first (_forbid_delete); only cull() comes here,
        # to remove expired values, whose cached copies must go too.
        deleted = await self._main._delete(key, expect)
        await self._data._delete(key, None)
        return deleted
