"""Stores built from other stores: write-once, cached, memory-cached, several formats in one place."""

from .append_only_cached import AppendOnlyDictCached
from .lru_cached import CacheStats, LRUCachedDict
from .mutable_cached import MutableDictCached
from .overlapping import OverlappingMultiDict
from .write_once import WriteOnceDict

__all__ = [
    "AppendOnlyDictCached",
    "CacheStats",
    "LRUCachedDict",
    "MutableDictCached",
    "OverlappingMultiDict",
    "WriteOnceDict",
]
