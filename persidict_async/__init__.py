"""persidict_async: persistent dictionaries with an async core.

Each key-value pair is one file or one S3 object, so many processes on many
machines can share a store. Every operation is a coroutine; the synchronous
``persidict_sync`` package wraps the same stores in a dict-like facade.
"""

from ._version import __version__
from .base import PersiDict
from .codecs import Codec, get_codec, register_codec
from .errors import BackendError, ConcurrencyConflictError, CorruptValueError, MutationPolicyError
from .files import FileDirDict
from .flags import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConditionalOperationResult,
    ETagConditionFlag,
    ETagValue,
    Joker,
    OperationResult,
    RetrieveValueFlag,
)
from .keys import (
    NonEmptyPersiDictKey,
    NonEmptySafeStrTuple,
    PersiDictKey,
    SafeStrTuple,
    get_safe_chars,
    replace_unsafe_chars,
)
from .memory import EmptyDict, LocalDict, MemoryBackend
from .s3 import BasicS3Dict, S3Dict
from .wrappers import AppendOnlyDictCached, MutableDictCached, OverlappingMultiDict, WriteOnceDict

__all__ = [
    "ALWAYS_RETRIEVE",
    "ANY_ETAG",
    "DELETE_CURRENT",
    "ETAG_HAS_CHANGED",
    "ETAG_IS_THE_SAME",
    "IF_ETAG_CHANGED",
    "ITEM_NOT_AVAILABLE",
    "KEEP_CURRENT",
    "NEVER_RETRIEVE",
    "VALUE_NOT_RETRIEVED",
    "AppendOnlyDictCached",
    "BackendError",
    "BasicS3Dict",
    "Codec",
    "ConcurrencyConflictError",
    "ConditionalOperationResult",
    "CorruptValueError",
    "ETagConditionFlag",
    "ETagValue",
    "EmptyDict",
    "FileDirDict",
    "Joker",
    "LocalDict",
    "MemoryBackend",
    "MutableDictCached",
    "MutationPolicyError",
    "NonEmptyPersiDictKey",
    "NonEmptySafeStrTuple",
    "OperationResult",
    "OverlappingMultiDict",
    "PersiDict",
    "PersiDictKey",
    "RetrieveValueFlag",
    "S3Dict",
    "SafeStrTuple",
    "WriteOnceDict",
    "__version__",
    "get_codec",
    "get_safe_chars",
    "register_codec",
    "replace_unsafe_chars",
]
