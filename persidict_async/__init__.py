"""persidict_async: persistent dictionaries with an async core.

Each key-value pair is one file or one S3 object, so many processes on many
machines can share a store. Every operation is a coroutine; the synchronous
``persidict_sync`` package wraps the same stores in a dict-like facade.
"""

from . import _public
from ._public import *  # noqa: F403 - the names shared with persidict_sync
from .base import PersiDict
from .copying import CopyStats, copy_store
from .files import FileDirDict
from .memory import EmptyDict, LocalDict
from .s3 import BasicS3Dict, S3Dict
from .urls import open_store
from .wrappers import (
    AppendOnlyDictCached,
    LRUCachedDict,
    MutableDictCached,
    OverlappingMultiDict,
    WriteOnceDict,
)

# The stores (async here); persidict_sync exports the same names as sync facades.
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
