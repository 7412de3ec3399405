"""persidict_sync: the classic dict API over the async stores of persidict_async.

Every store here is a ``MutableMapping`` driving the async store of the same
name (available as ``.aio``). Local stores run inline in the calling thread;
network stores run on one shared background event loop.
"""

from persidict_async import _public
from persidict_async._public import *  # noqa: F403 - the names shared with persidict_async
from persidict_async.copying import CopyStats

from ._facade import PersiDict
from ._overlapping import OverlappingMultiDict
from ._stores import (
    AppendOnlyDictCached,
    BasicS3Dict,
    EmptyDict,
    FileDirDict,
    LocalDict,
    LRUCachedDict,
    MutableDictCached,
    S3Dict,
    WriteOnceDict,
)
from ._tools import copy_store, open_store

# The stores (sync facades here), under the names persidict_async uses.
__all__ = [
    "AppendOnlyDictCached",
    "BasicS3Dict",
    "EmptyDict",
    "FileDirDict",
    "LRUCachedDict",
    "LocalDict",
    "MutableDictCached",
    "OverlappingMultiDict",
    "PersiDict",
    "S3Dict",
    "WriteOnceDict",
]
__all__ += _public.__all__
__all__ += ["CopyStats", "copy_store", "open_store"]
