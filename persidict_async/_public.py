"""The public names that persidict_async and persidict_sync share (all but the stores)."""

from ._version import __version__
from .codecs import Codec, get_codec, register_codec
from .errors import (
    BackendError,
    ConcurrencyConflictError,
    CorruptValueError,
    MutationPolicyError,
    UntrustedValueError,
)
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
from .memoize import memoize
from .memory import MemoryBackend
from .wrappers.lru_cached import CacheStats

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
    "BackendError",
    "CacheStats",
    "Codec",
    "ConcurrencyConflictError",
    "ConditionalOperationResult",
    "CorruptValueError",
    "ETagConditionFlag",
    "ETagValue",
    "Joker",
    "MemoryBackend",
    "MutationPolicyError",
    "NonEmptyPersiDictKey",
    "NonEmptySafeStrTuple",
    "OperationResult",
    "PersiDictKey",
    "RetrieveValueFlag",
    "SafeStrTuple",
    "UntrustedValueError",
    "__version__",
    "get_codec",
    "get_safe_chars",
    "memoize",
    "register_codec",
    "replace_unsafe_chars",
]
