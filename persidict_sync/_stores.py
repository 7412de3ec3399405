"""The sync facade of every store: each names the async class it drives."""

from __future__ import annotations

from typing import TypeVar, cast

import persidict_async as aio

from ._facade import PersiDict

V = TypeVar("V")


class LocalDict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.LocalDict` (same keyword arguments)."""

    _async_class = aio.LocalDict


class FileDirDict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.FileDirDict` (same keyword arguments)."""

    _async_class = aio.FileDirDict


class EmptyDict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.EmptyDict` (same keyword arguments)."""

    _async_class = aio.EmptyDict


class WriteOnceDict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.WriteOnceDict` (same keyword arguments)."""

    _async_class = aio.WriteOnceDict


class MutableDictCached(PersiDict[V]):
    """Sync facade of :class:`persidict_async.MutableDictCached` (same keyword arguments)."""

    _async_class = aio.MutableDictCached


class AppendOnlyDictCached(PersiDict[V]):
    """Sync facade of :class:`persidict_async.AppendOnlyDictCached` (same keyword arguments)."""

    _async_class = aio.AppendOnlyDictCached


class LRUCachedDict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.LRUCachedDict` (same keyword arguments)."""

    _async_class = aio.LRUCachedDict

    def cache_stats(self) -> aio.CacheStats:
        """Counters and sizes of the in-memory cache."""
        return cast("aio.LRUCachedDict[V]", self.aio).cache_stats()

    def clear_cache(self) -> None:
        """Drop every cached entry (the stored data is untouched)."""
        cast("aio.LRUCachedDict[V]", self.aio).clear_cache()


class BasicS3Dict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.BasicS3Dict` (same keyword arguments)."""

    _async_class = aio.BasicS3Dict


class S3Dict(PersiDict[V]):
    """Sync facade of :class:`persidict_async.S3Dict` (same keyword arguments)."""

    _async_class = aio.S3Dict
