"""Keys: tuples of URL- and filesystem-safe strings.

A key is a ``str``, a (possibly nested) sequence of ``str``, or a
:class:`SafeStrTuple`; every public operation normalises it to a
:class:`NonEmptySafeStrTuple` before any I/O happens.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

__all__ = [
    "NonEmptyPersiDictKey",
    "NonEmptySafeStrTuple",
    "PersiDictKey",
    "SafeStrTuple",
    "get_safe_chars",
    "replace_unsafe_chars",
]

_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "()_-~.=")
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9()_\-~.=]+")


def get_safe_chars() -> set[str]:
    """Return the set of characters allowed in a key component."""
    return set(_SAFE_CHARS)


def replace_unsafe_chars(a_str: str, replace_with: str = "_") -> str:
    """Replace every character that is not safe in a key component.

    Args:
        a_str: The string to clean.
        replace_with: What to put in place of each unsafe character.

    Returns:
        The cleaned string (same length when ``replace_with`` is one char).
    """
    return "".join(c if c in _SAFE_CHARS else replace_with for c in a_str)


def _check_component(component: object) -> str:
    if not isinstance(component, str):
        raise TypeError(
            f"key components must be str, got {type(component).__name__}: {component!r}"
        )
    if not _SAFE_COMPONENT.fullmatch(component):
        if component == "":
            raise ValueError("key components must be non-empty strings")
        bad = sorted({c for c in component if c not in _SAFE_CHARS})
        raise ValueError(f"unsafe character(s) {bad!r} in key component {component!r}")
    if component in (".", ".."):
        raise ValueError(f"key component {component!r} is not allowed")
    return component


def _flatten(value: object, out: list[str], depth: int = 0) -> None:
    if depth > 64:
        raise ValueError("key nesting is too deep")
    if isinstance(value, str):
        out.append(_check_component(value))
    elif isinstance(value, SafeStrTuple):
        out.extend(value)
    elif isinstance(value, Mapping | bytes | bytearray | memoryview):
        raise TypeError(f"a {type(value).__name__} cannot be used as a key")
    elif isinstance(value, Sequence):
        for item in value:
            _flatten(item, out, depth + 1)
    else:
        raise TypeError(f"a {type(value).__name__} cannot be used as a key: {value!r}")


class SafeStrTuple(tuple[str, ...]):
    """An immutable tuple of safe, non-empty strings (may itself be empty).

    Built from a str, a SafeStrTuple, or any nesting of sequences of those
    (nested sequences are flattened). Hashes like the plain tuple and
    compares equal to the same tuple, list, or (for one component) str.
    """

    __slots__ = ()

    def __new__(cls, *args: Any) -> SafeStrTuple:
        """Build and validate a tuple from the given components."""
        if len(args) == 1 and type(args[0]) is cls:
            return args[0]
        parts: list[str] = []
        _flatten(args, parts)
        return _make(cls, parts)

    @property
    def strings(self) -> tuple[str, ...]:
        """The components as a plain tuple."""
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return len(self) == 1 and self[0] == other
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = tuple.__hash__

    def __add__(self, other: object) -> SafeStrTuple:
        return SafeStrTuple(self, other)

    def __radd__(self, other: object) -> SafeStrTuple:
        return SafeStrTuple(other, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(s) for s in self)})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), tuple(self))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


class NonEmptySafeStrTuple(SafeStrTuple):
    """A SafeStrTuple with at least one component: a complete key."""

    __slots__ = ()

    def __new__(cls, *args: Any) -> NonEmptySafeStrTuple:
        """Build a key; raises ValueError when it has no components."""
        if len(args) == 1:
            only = args[0]
            if type(only) is cls:
                return only
            if type(only) is str:
                return _key_from_str(only)
        parts: list[str] = []
        _flatten(args, parts)
        if not parts:
            raise ValueError("a key must have at least one component")
        return _make(cls, parts)  # type: ignore[return-value]


def _make(cls: type[SafeStrTuple], parts: Iterable[str]) -> SafeStrTuple:
    return tuple.__new__(cls, parts)


# Most keys are plain str: their validated forms are cached (a plain dict is the
# cheapest lookup; its size is bounded, and dict operations are thread-safe).
_STR_KEYS: dict[str, NonEmptySafeStrTuple] = {}
_STR_KEYS_MAX = 65536


def _key_from_str(key: str) -> NonEmptySafeStrTuple:
    found = _STR_KEYS.get(key)
    if found is None:
        found = tuple.__new__(NonEmptySafeStrTuple, (_check_component(key),))
        if len(_STR_KEYS) < _STR_KEYS_MAX:
            _STR_KEYS[key] = found
    return found


PersiDictKey: TypeAlias = SafeStrTuple | str | Sequence[Any]
"""Anything that can be normalised to a (possibly empty) SafeStrTuple."""

NonEmptyPersiDictKey: TypeAlias = NonEmptySafeStrTuple | str | Sequence[Any]
"""Anything that can be normalised to a NonEmptySafeStrTuple."""


def to_key(key: object) -> NonEmptySafeStrTuple:
    """Normalise a user key, validating it before any I/O."""
    if type(key) is NonEmptySafeStrTuple:
        return key
    if type(key) is str:
        found = _STR_KEYS.get(key)
        return found if found is not None else _key_from_str(key)
    return NonEmptySafeStrTuple(key)


def to_prefix(prefix: object) -> SafeStrTuple:
    """Normalise a (possibly empty) prefix."""
    if prefix is None:
        return SafeStrTuple()
    if isinstance(prefix, SafeStrTuple):
        return _make(SafeStrTuple, prefix)
    return SafeStrTuple(prefix)


def trusted_key(parts: tuple[str, ...] | list[str]) -> NonEmptySafeStrTuple:
    """Wrap components that came from the store itself (already validated)."""
    return tuple.__new__(NonEmptySafeStrTuple, parts)
