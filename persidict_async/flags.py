"""Jokers, ETag conditions, retrieval modes, status sentinels and results.

Every flag is a singleton that keeps its identity through pickling, so
``pickle.loads(pickle.dumps(KEEP_CURRENT)) is KEEP_CURRENT`` in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NewType, Protocol, TypeAlias, TypeVar, final

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
    "ConditionalOperationResult",
    "DeleteCurrentFlag",
    "ETagConditionFlag",
    "ETagIfExists",
    "ETagValue",
    "ItemNotAvailableFlag",
    "Joker",
    "KeepCurrentFlag",
    "OperationResult",
    "RetrieveValueFlag",
    "TransformingFunction",
    "ValueNotRetrievedFlag",
]

ETagValue = NewType("ETagValue", str)
"""An opaque version tag of a stored value; it changes on every write."""


class _Flag:
    """Base of all singletons: one instance per class, pickled by name."""

    __slots__ = ()
    _instance_name: ClassVar[str] = ""
    _instances: ClassVar[dict[type, _Flag]] = {}

    def __new__(cls) -> _Flag:
        inst = _Flag._instances.get(cls)
        if inst is None:
            inst = super().__new__(cls)
            _Flag._instances[cls] = inst
        return inst

    def __repr__(self) -> str:
        return self._instance_name

    def __reduce__(self) -> str:
        # A str from __reduce__ makes pickle store a reference to the module global.
        return self._instance_name

    def __copy__(self) -> _Flag:
        return self

    def __deepcopy__(self, memo: object) -> _Flag:
        return self


class Joker(_Flag):
    """A value that is a command rather than data (KEEP_CURRENT, DELETE_CURRENT)."""

    __slots__ = ()


@final
class KeepCurrentFlag(Joker):
    """Writing it leaves the stored value unchanged."""

    __slots__ = ()
    _instance_name = "KEEP_CURRENT"


@final
class DeleteCurrentFlag(Joker):
    """Writing it deletes the key if present."""

    __slots__ = ()
    _instance_name = "DELETE_CURRENT"


@final
class ItemNotAvailableFlag(_Flag):
    """Marks a missing key (as a value or as its ETag)."""

    __slots__ = ()
    _instance_name = "ITEM_NOT_AVAILABLE"


@final
class ValueNotRetrievedFlag(_Flag):
    """Marks a value that exists but was deliberately not fetched."""

    __slots__ = ()
    _instance_name = "VALUE_NOT_RETRIEVED"


class ETagConditionFlag(_Flag):
    """A condition comparing an expected ETag with the actual one."""

    __slots__ = ()

    def check(self, expected: ETagIfExists, actual: ETagIfExists) -> bool:
        """Return whether the condition holds."""
        raise NotImplementedError


@final
class AnyETagFlag(ETagConditionFlag):
    """Always satisfied."""

    __slots__ = ()
    _instance_name = "ANY_ETAG"

    def check(self, expected: ETagIfExists, actual: ETagIfExists) -> bool:
        """Return True."""
        return True


@final
class ETagIsTheSameFlag(ETagConditionFlag):
    """Satisfied when the expected ETag equals the actual one."""

    __slots__ = ()
    _instance_name = "ETAG_IS_THE_SAME"

    def check(self, expected: ETagIfExists, actual: ETagIfExists) -> bool:
        """Return whether expected == actual."""
        return expected == actual


@final
class ETagHasChangedFlag(ETagConditionFlag):
    """Satisfied when the expected ETag differs from the actual one."""

    __slots__ = ()
    _instance_name = "ETAG_HAS_CHANGED"

    def check(self, expected: ETagIfExists, actual: ETagIfExists) -> bool:
        """Return whether expected != actual."""
        return expected != actual


class RetrieveValueFlag(_Flag):
    """Whether a conditional operation fetches the current value."""

    __slots__ = ()


@final
class AlwaysRetrieveFlag(RetrieveValueFlag):
    """Always fetch the current value."""

    __slots__ = ()
    _instance_name = "ALWAYS_RETRIEVE"


@final
class NeverRetrieveFlag(RetrieveValueFlag):
    """Never fetch the current value."""

    __slots__ = ()
    _instance_name = "NEVER_RETRIEVE"


@final
class IfETagChangedRetrieveFlag(RetrieveValueFlag):
    """Fetch only when the expected ETag differs from the actual one."""

    __slots__ = ()
    _instance_name = "IF_ETAG_CHANGED"


KEEP_CURRENT = KeepCurrentFlag()
DELETE_CURRENT = DeleteCurrentFlag()
ITEM_NOT_AVAILABLE = ItemNotAvailableFlag()
VALUE_NOT_RETRIEVED = ValueNotRetrievedFlag()
ANY_ETAG = AnyETagFlag()
ETAG_IS_THE_SAME = ETagIsTheSameFlag()
ETAG_HAS_CHANGED = ETagHasChangedFlag()
ALWAYS_RETRIEVE = AlwaysRetrieveFlag()
NEVER_RETRIEVE = NeverRetrieveFlag()
IF_ETAG_CHANGED = IfETagChangedRetrieveFlag()

ETagIfExists: TypeAlias = ETagValue | str | ItemNotAvailableFlag
"""An ETag, or ITEM_NOT_AVAILABLE for a missing key."""

V = TypeVar("V")
V_co = TypeVar("V_co", covariant=True)


@dataclass(frozen=True, slots=True)
class OperationResult(Generic[V]):
    """The outcome of transform_item.

    Attributes:
        resulting_etag: The key's ETag afterwards (ITEM_NOT_AVAILABLE if absent).
        new_value: The value afterwards (ITEM_NOT_AVAILABLE if absent).
    """

    resulting_etag: ETagIfExists
    new_value: V | ItemNotAvailableFlag


@dataclass(frozen=True, slots=True)
class ConditionalOperationResult(Generic[V]):
    """The outcome of a conditional (``*_if``) operation.

    Attributes:
        condition_was_satisfied: Whether the ETag condition held.
        actual_etag: The key's ETag before the operation.
        resulting_etag: The key's ETag after the operation.
        new_value: The value after the operation, ITEM_NOT_AVAILABLE or
            VALUE_NOT_RETRIEVED.
    """

    condition_was_satisfied: bool
    actual_etag: ETagIfExists
    resulting_etag: ETagIfExists
    new_value: V | ItemNotAvailableFlag | ValueNotRetrievedFlag

    @property
    def value_was_mutated(self) -> bool:
        """Whether the operation changed the stored value."""
        return self.resulting_etag != self.actual_etag


class TransformingFunction(Protocol[V]):
    """A function from the current value (or ITEM_NOT_AVAILABLE) to the next."""

    def __call__(self, value: V | ItemNotAvailableFlag, /) -> V | Joker:
        """Compute the new value, or return a Joker."""
        ...


def _check_flag(value: Any, cls: type[_Flag], what: str) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{what} must be a {cls.__name__}, got {value!r}")
