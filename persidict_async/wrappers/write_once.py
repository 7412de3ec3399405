"""WriteOnceDict: the first write of a key wins; later writes are ignored (optionally checked)."""

from __future__ import annotations

import random
from typing import Any, ClassVar, NoReturn, Self, TypeVar

from ..base import Expect, PersiDict, Record
from ..errors import MutationPolicyError
from ..flags import DELETE_CURRENT, KEEP_CURRENT, Joker
from ..keys import NonEmptySafeStrTuple, SafeStrTuple
from ._common import WrapperDict, check_store

__all__ = ["WriteOnceDict"]

V = TypeVar("V")


def _check_probability(p: Any) -> float:
    if p is None:
        return 0.0
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p_consistency_checks must be a number in [0, 1], got {p!r}")
    return float(p)


class WriteOnceDict(WrapperDict[V]):
    """A store where each key is written once: repeat writes are silently ignored.

    The first write is an atomic insert-if-absent on the wrapped store. A repeat
    write (``d[k] = v``, ``set_many``, ``update``) is compared with the stored
    value with probability ``p_consistency_checks``; a different value raises
    MutationPolicyError("write-once"). Conditional operations never drop a write
    silently: ``set_item_if`` whose condition holds on an existing key, and
    ``transform_item`` returning a new value for an existing key, raise
    MutationPolicyError("write-once") (their result could otherwise report a
    satisfied condition for a write that did not happen). ``setdefault_if``
    never changes an existing key, so it does not raise. Every deletion raises
    MutationPolicyError("write-once"), even for absent keys. ETags and
    timestamps are the wrapped store's.

    Args:
        wrapped_dict: The append-only store holding the data (None: an append-only
            FileDirDict in the default directory).
        p_consistency_checks: Probability (0 to 1) of checking a repeat write.
        serialization_format: See :class:`~persidict_async.wrappers._common.WrapperDict`.
        append_only: Always True (accepted so that get_params() round-trips).
        base_class_for_values: See :class:`~persidict_async.wrappers._common.WrapperDict`.
    """

    _backend_name: ClassVar[str] = "write-once"

    def __init__(
        self,
        *,
        wrapped_dict: PersiDict[Any] | None = None,
        p_consistency_checks: float | None = 0.0,
        serialization_format: str | None = None,
        append_only: bool | None = None,
        base_class_for_values: type | None = None,
    ) -> None:
        if wrapped_dict is None:
            from ..files import FileDirDict  # imported late: files imports the base, not wrappers

            wrapped_dict = FileDirDict(append_only=True)
        wrapped = check_store("wrapped_dict", wrapped_dict)
        if not wrapped.append_only:
            raise ValueError("wrapped_dict must be append-only")
        if append_only is False:
            raise ValueError("a WriteOnceDict is always append-only")
        self._p = _check_probability(p_consistency_checks)
        super().__init__(
            main=wrapped,
            parts=(wrapped,),
            serialization_format=serialization_format,
            append_only=True,
            base_class_for_values=base_class_for_values,
        )
        self.consistency_checks_attempted = 0
        """How many repeat writes were compared with the stored value."""
        self.consistency_checks_passed = 0
        """How many of those comparisons found the same value."""
        self.consistency_checks_failed = 0
        """How many of those comparisons found a different value (each raised)."""

    @property
    def wrapped_dict(self) -> PersiDict[Any]:
        """The wrapped store."""
        return self._main

    @property
    def p_consistency_checks(self) -> float:
        """Probability of checking a repeat write against the stored value."""
        return self._p

    @p_consistency_checks.setter
    def p_consistency_checks(self, value: float | None) -> None:
        self._p = _check_probability(value)

    def _param_dict(self) -> dict[str, Any]:
        return {
            **super()._param_dict(),
            "wrapped_dict": self._main,
            "p_consistency_checks": self._p,
        }

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        params["wrapped_dict"] = self._main._subdict(prefix)
        return type(self)(**params)

    # ------------------------------------------------------------------ primitives

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        return await self._main._read(key, if_none_match)

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        return await self._main._write(key, data, expect)

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        # Every public delete path refuses first (_forbid_delete); only cull() comes
        # here, to remove expired values.
        return await self._main._delete(key, expect)

    def _forbid_delete(self) -> NoReturn:
        raise MutationPolicyError("write-once", "deletion is not allowed")

    def _forbid_overwrite(self, key: NonEmptySafeStrTuple) -> NoReturn:
        raise MutationPolicyError("write-once", f"key {key!r} is already written")

    # ------------------------------------------------------------------ writes

    async def set_item(self, key: Any, value: V | Joker, *, ttl: float | None = None) -> None:
        """Store ``value`` unless ``key`` already exists (then maybe check it is the same).

        Raises:
            MutationPolicyError: For DELETE_CURRENT, or when a consistency check
                finds a different stored value.
        """
        k = self._key(key)
        if value is KEEP_CURRENT:
            return
        if value is DELETE_CURRENT:
            self._forbid_delete()
        data = self._encode(k, value, ttl)
        if await self._insert(k, data):
            return
        p = self._p
        if p > 0.0 and (p >= 1.0 or random.random() < p):
            await self._check_consistency(k, value, data)

    async def _check_consistency(self, key: NonEmptySafeStrTuple, value: Any, data: bytes) -> None:
        self.consistency_checks_attempted += 1
        record = await self._main._read(key)
        if record is not None and record.data is not None and not self._same(key, value, data, record.data):
            self.consistency_checks_failed += 1
            raise MutationPolicyError(
                "write-once", f"key {key!r} already holds a different value"
            )
        self.consistency_checks_passed += 1

    def _same(self, key: NonEmptySafeStrTuple, value: Any, data: bytes, stored: bytes) -> bool:
        if data == stored:
            return True
        # Equal values may encode differently (set order, pickle protocol): compare values.
        try:
            return bool(self._decode(key, stored) == value)
        except Exception:
            return False
