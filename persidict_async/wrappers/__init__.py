"""Stores built from other stores: write-once, cached, and several formats over one location."""

from .append_only_cached import AppendOnlyDictCached
from .mutable_cached import MutableDictCached
from .overlapping import OverlappingMultiDict
from .write_once import WriteOnceDict

__all__ = ["AppendOnlyDictCached", "MutableDictCached", "OverlappingMultiDict", "WriteOnceDict"]
