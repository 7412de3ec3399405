"""The async PersiDict contract, written once on top of a few backend primitives.

A backend implements :meth:`PersiDict._read`, :meth:`PersiDict._stat`,
:meth:`PersiDict._write`, :meth:`PersiDict._delete`, :meth:`PersiDict._scan` and
:meth:`PersiDict._subdict`. ``_write`` and ``_delete`` take an expectation about
the current state (absent, or a given ETag) and must check it atomically; every
conditional operation here is an optimistic loop over those two primitives, so
it is atomic on any backend whose primitives are.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NoReturn, Self, TypeVar, cast

from ._batch import bounded_map
from ._frame import FrameError, Framer, SignatureMismatch, deadline_of, is_framed
from ._io import sleep
from .codecs import get_codec, is_text_format
from .errors import (
    ConcurrencyConflictError,
    CorruptValueError,
    MutationPolicyError,
    UntrustedValueError,
)
from .flags import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConditionalOperationResult,
    ETagConditionFlag,
    ETagIfExists,
    ItemNotAvailableFlag,
    Joker,
    OperationResult,
    RetrieveValueFlag,
    TransformingFunction,
    _check_flag,
)
from .keys import NonEmptySafeStrTuple, SafeStrTuple, to_key, to_prefix

__all__ = ["PersiDict", "Record"]

V = TypeVar("V")
_MISSING: Any = object()
# Values of these exact types cannot be stores: the store check is skipped for them.
_PLAIN_TYPES = frozenset({dict, list, tuple, set, frozenset, str, bytes, int, float, bool, type(None)})
Expect = str | ItemNotAvailableFlag | None
"""What ``_write``/``_delete`` require of the current state: None (nothing),
ITEM_NOT_AVAILABLE (absent), or an ETag (present with that ETag)."""


@dataclass(slots=True)
class Record:
    """What a backend knows about one stored value (treat as immutable).

    Attributes:
        etag: The value's current ETag.
        mtime: Last modification time (POSIX seconds).
        size: Size of the stored bytes, when known.
        data: The stored bytes, or None when not fetched.
    """

    etag: str
    mtime: float
    size: int | None = None
    data: bytes | None = None


@dataclass(slots=True)
class Mutation:
    """The outcome of :meth:`PersiDict._apply_if`.

    Attributes:
        before: The state the decision was taken on (None: absent); it carries
            the value's bytes when they were asked for.
        applied: Whether the write or delete happened.
        etag: The new ETag after an applied write (None otherwise).
    """

    before: Record | None
    applied: bool
    etag: str | None = None


def _etag_of(record: Record | None) -> ETagIfExists:
    return ITEM_NOT_AVAILABLE if record is None else record.etag


def _rebuild(cls: type[PersiDict[Any]], params: dict[str, Any]) -> PersiDict[Any]:
    return cls(**params)


def _now() -> float:
    """The clock of expiry deadlines (POSIX seconds; each machine's own clock)."""
    return time.time()


def _check_ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or math.isnan(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds (or None), got {ttl!r}")
    return float(ttl)


def _check_signing_key(key: Any) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray) or not key:
        raise TypeError("signing_key must be a non-empty bytes or str (or None)")
    return bytes(key)


class PersiDict(ABC, Generic[V]):
    """A persistent dictionary; every operation is a coroutine.

    Args:
        serialization_format: "pkl", "json", or any other name for UTF-8 text
            (or a format with a registered codec).
        append_only: Refuse overwrites and deletions (MutationPolicyError).
        base_class_for_values: Values must be instances of it (checked on
            write and read); must be str for text formats.
        ttl: Seconds a written value lives (None: values never expire and
            deadlines are ignored; ``math.inf``: no default expiry, but per-write
            ``ttl=`` is allowed). Expired keys read as missing everywhere.
        signing_key: Sign every written value with HMAC-SHA256 under this key
            and refuse to decode values without a valid signature (so a writable
            shared folder or bucket cannot inject pickles).
    """

    _backend_name: ClassVar[str] = "abstract"
    _max_concurrency: ClassVar[int] = 32
    _component_limit: ClassVar[int | None] = None
    _secret_params: ClassVar[tuple[str, ...]] = ("signing_key",)
    _writes_now: ClassVar[bool] = False
    """Whether :meth:`_write_now` exists: an unconditional write that never blocks."""
    _reads_now: bool = False
    """Whether :meth:`_read_now` and :meth:`_read_data_now` exist: reads that finish in
    the caller's thread without an event loop (memory and local files)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        # A subclass that changes how a key is read (without saying how to do it
        # synchronously) must not be bypassed by the sync facade's direct reads.
        if ("_read" in own and "_read_now" not in own) or (
            "_read_data" in own and "_read_data_now" not in own
        ):
            cls._reads_now = False

    def __init__(
        self,
        *,
        serialization_format: str = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        ttl: float | None = None,
        signing_key: bytes | str | None = None,
    ) -> None:
        if not isinstance(serialization_format, str) or not serialization_format:
            raise ValueError("serialization_format must be a non-empty str")
        if not serialization_format.replace("_", "").isalnum():
            raise ValueError(
                f"serialization_format must be alphanumeric, got {serialization_format!r}"
            )
        if not isinstance(append_only, bool):
            raise TypeError(f"append_only must be a bool, got {append_only!r}")
        if base_class_for_values is not None and not isinstance(base_class_for_values, type):
            raise TypeError(f"base_class_for_values must be a class, got {base_class_for_values!r}")
        if is_text_format(serialization_format) and base_class_for_values is not str:
            raise ValueError(
                f"serialization_format {serialization_format!r} stores text: "
                "base_class_for_values must be str"
            )
        self.serialization_format = serialization_format
        self.append_only = append_only
        self.base_class_for_values = base_class_for_values
        self._checks_all_values = base_class_for_values is not None
        self.ttl = _check_ttl(ttl)
        self.signing_key = _check_signing_key(signing_key)
        self._expiring = self.ttl is not None
        self._framer = framer = Framer(self.signing_key)
        codec = self._codec = get_codec(serialization_format)
        self._encode_value = codec.encode
        # Pickles and JSON never start with the envelope's NUL byte, so their plain
        # values need no envelope and their decoder runs first (envelopes are the
        # rare case, handled when it fails); other codecs' output might look alike.
        self._unambiguous = bool(getattr(codec, "unambiguous", False))
        self._frames = self._expiring or framer.signs or not self._unambiguous
        if framer.signs or not self._unambiguous:

            def decode_enveloped(data: bytes) -> Any:
                return codec.decode(framer.open(data))

            self._decode_bytes = decode_enveloped
        else:
            self._decode_bytes = codec.decode
        if self._component_limit is None and type(self)._key is PersiDict._key:
            self._key = to_key  # type: ignore[method-assign]  # skip the limit check

    # ------------------------------------------------------------------ primitives

    @abstractmethod
    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        """Return the record with its data, or None if absent.

        When the current ETag equals ``if_none_match`` the data may be left out.
        """

    @abstractmethod
    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        """Return the record without data, or None if absent."""

    @abstractmethod
    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        """Store ``data`` if the state matches ``expect``; return the new ETag or None."""

    @abstractmethod
    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        """Delete if present (and with ETag ``expect`` if given); return whether deleted."""

    @abstractmethod
    def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        """Yield every key (with a data-less record when ``with_meta``)."""

    @abstractmethod
    def _subdict(self, prefix: SafeStrTuple) -> Self:
        """Return a store of the same class rooted at ``prefix``."""

    def _write_now(self, key: NonEmptySafeStrTuple, data: bytes) -> object:
        """Store ``data`` unconditionally, synchronously (memory backends; see ``_writes_now``).

        Saves plain writes a coroutine step, a good part of an in-memory write's cost.
        Returns the new ETag in the backend's own form (``_write`` turns it into str).
        """
        raise NotImplementedError

    def _read_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        """:meth:`_read`, synchronously (only where ``_reads_now``).

        The sync facade calls it directly: a local read then needs no coroutine.
        """
        raise NotImplementedError

    def _read_data_now(self, key: NonEmptySafeStrTuple) -> bytes | None:
        """:meth:`_read_data`, synchronously (only where ``_reads_now``)."""
        raise NotImplementedError

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        """The value's bytes only, or None if absent (get, get_many, items).

        Backends override it with a cheaper read; a cached store may answer
        from its cache.
        """
        record = await self._read(key)
        return None if record is None else record.data

    async def _apply_if(
        self,
        key: NonEmptySafeStrTuple,
        decide: Callable[[Record | None], bool],
        data: bytes | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        """Atomically: look at ``key``; if ``decide(record)``, write ``data`` (None: delete).

        ``decide`` sees the current record (None when absent) and may raise. With
        ``want_data`` the returned ``before`` record carries the value's bytes;
        ``data_if_kept`` asks for them only when nothing was applied, and only if
        they come cheap (this default ignores it: callers read them when needed).
        This default is an optimistic loop over the conditional ``_write`` /
        ``_delete``; a backend that can hold a lock overrides it to do the whole
        decision in one step (one worker-thread hop).
        """
        record = await (self._read(key) if want_data else self._stat(key))
        while True:
            if not decide(record):
                return Mutation(record, False)
            if data is None:
                if record is None or await self._delete(key, record.etag):
                    return Mutation(record, True)
            else:
                etag = await self._write(key, data, _etag_of(record))
                if etag is not None:
                    return Mutation(record, True, etag)
            # Lost a race: decide again on the new state.
            record = await (self._read(key) if want_data else self._stat(key))

    async def _scan_location(
        self,
    ) -> AsyncIterator[tuple[str, NonEmptySafeStrTuple, Record | None]]:
        """Yield (format, key, data-less record) of every value at the store's location.

        Files and S3 keep values of several formats side by side (the file
        extension or object-name suffix is the format) and override this to
        list them all in one pass; by default a store lists its own format.
        """
        fmt = self.serialization_format
        async for key, record in self._scan(True):
            yield fmt, key, record

    async def _count(self) -> int:
        """Count the keys (backends override with something cheaper)."""
        n = 0
        async for _ in self._scan(False):
            n += 1
        return n

    def _param_dict(self) -> dict[str, Any]:
        """The constructor parameters (subclasses extend it)."""
        return {
            "serialization_format": self.serialization_format,
            "append_only": self.append_only,
            "base_class_for_values": self.base_class_for_values,
            "ttl": self.ttl,
            "signing_key": self.signing_key,
        }

    @property
    def runs_inline(self) -> bool:
        """Whether all I/O is local, so the sync facade may drive it without a loop."""
        return True

    @property
    def does_blocking_io(self) -> bool:
        """Whether operations call blocking functions through ``run_io``."""
        return True

    async def aclose(self) -> None:
        """Release clients and connections (a no-op for local stores)."""

    # ------------------------------------------------------------------ helpers

    def _key(self, key: Any) -> NonEmptySafeStrTuple:
        k = to_key(key)
        limit = self._component_limit
        # A str key is one component: its own length settles it (the common case).
        if limit is not None and (type(key) is not str or len(key) > limit):
            for part in k:
                if len(part) > limit:
                    raise ValueError(
                        f"key component {part[:40]!r}... is {len(part)} characters long; "
                        f"{type(self).__name__} allows at most {limit}"
                    )
        return k

    def _encode(self, key: NonEmptySafeStrTuple, value: Any, ttl: float | None = None) -> bytes:
        if self._checks_all_values or type(value) not in _PLAIN_TYPES:
            self._check_value(key, value)
        try:
            payload = self._encode_value(value)
        except TypeError as exc:
            raise TypeError(f"cannot store the value for key {key!r}: {exc}") from exc
        if ttl is None and not self._frames:
            return payload
        return self._envelope(payload, ttl)

    def _envelope(self, payload: bytes, ttl: float | None) -> bytes:
        """The stored form of ``payload``: with its deadline and signature, when due."""
        if ttl is not None:
            ttl = _check_ttl(ttl)
            if not self._expiring:
                raise ValueError(
                    "a per-write ttl needs a store opened with expiry (ttl=seconds or ttl=math.inf)"
                )
        else:
            ttl = self.ttl
        deadline = None if ttl is None or ttl == math.inf else _now() + ttl
        return self._framer.wrap(payload, deadline)

    def _check_value(self, key: NonEmptySafeStrTuple, value: Any) -> None:
        base = self.base_class_for_values
        if base is not None and not isinstance(value, base):
            raise TypeError(
                f"value for key {key!r} must be an instance of {base.__name__}, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, PersiDict) or getattr(type(value), "_is_persidict_facade", False):
            raise TypeError(f"a PersiDict cannot be stored as a value (key {key!r})")

    def _decode(self, key: NonEmptySafeStrTuple, data: bytes) -> V:
        try:
            value = self._decode_bytes(data)
        except SignatureMismatch as exc:
            raise UntrustedValueError(
                f"refusing the stored value of key {key!r}: {exc} (values of a store with "
                "a signing_key must be written with the same key)",
                backend=self._backend_name,
                operation="decode",
                key=key,
            ) from exc
        except Exception as exc:
            if self._unambiguous and is_framed(data):
                return self._decode_framed(key, data)
            raise CorruptValueError(
                f"the stored value of key {key!r} cannot be decoded as "
                f"{self.serialization_format!r}: {type(exc).__name__}: {exc}",
                backend=self._backend_name,
                operation="decode",
                key=key,
            ) from exc
        base = self.base_class_for_values
        if base is not None and not isinstance(value, base):
            raise TypeError(
                f"stored value of key {key!r} is a {type(value).__name__}, "
                f"not a {base.__name__}"
            )
        return value  # type: ignore[no-any-return]

    def _decode_framed(self, key: NonEmptySafeStrTuple, data: bytes) -> V:
        # An envelope read by a store that does not sign: decode its payload.
        try:
            payload = self._framer.open(data)
        except FrameError as exc:
            raise CorruptValueError(
                f"the stored value of key {key!r} has a damaged envelope: {exc}",
                backend=self._backend_name,
                operation="decode",
                key=key,
            ) from exc
        return self._decode(key, payload)

    # ------------------------------------------------------------------ expiry
    # Stores opened with a ttl see an expired value as absent; these helpers
    # put that view over the primitives, so every operation below honours it.

    def _alive(self, record: Record | None) -> Record | None:
        """``record``, or None when its value has expired (needs the record's data)."""
        if record is None or not self._expiring or record.data is None:
            return record
        return record if self._fresh(record.data) else None

    @staticmethod
    def _fresh(data: bytes, now: float | None = None) -> bool:
        """Whether stored bytes have no deadline, or one after ``now`` (default: the clock)."""
        deadline = deadline_of(data)
        return deadline is None or deadline > (_now() if now is None else now)

    async def _live_stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        """The live record of ``key`` (its data only when expiry needed them)."""
        if not self._expiring:
            return await self._stat(key)
        return self._alive(await self._read(key))

    async def _live_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        data = await self._read_data(key)
        if data is not None and self._expiring and not self._fresh(data):
            return None
        return data

    def _live_scan(
        self, with_meta: bool
    ) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        """Like ``_scan``, without expired keys."""
        if not self._expiring:
            return self._scan(with_meta)
        return self._scan_alive(with_meta)

    async def _scan_alive(
        self, with_meta: bool
    ) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        page: list[NonEmptySafeStrTuple] = []
        limit = self._batch_limit(None)

        async def alive(key: NonEmptySafeStrTuple) -> Record | None:
            return self._alive(await self._read(key))

        async def flush() -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
            records = await bounded_map(alive, page, limit)
            for key, record in zip(page, records, strict=True):
                if record is not None:
                    yield key, Record(record.etag, record.mtime, record.size) if with_meta else None
            page.clear()

        async for key, _ in self._scan(False):
            page.append(key)
            if len(page) >= _SCAN_PAGE:
                async for item in flush():
                    yield item
        async for item in flush():
            yield item

    async def _apply_live(
        self,
        key: NonEmptySafeStrTuple,
        decide: Callable[[Record | None], bool],
        data: bytes | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        """``_apply_if`` on the live view: an expired value is decided on as absent."""
        if not self._expiring:
            return await self._apply_if(key, decide, data, want_data, data_if_kept)
        alive = self._alive
        done = await self._apply_if(key, lambda record: decide(alive(record)), data, want_data=True)
        return Mutation(alive(done.before), done.applied, done.etag)

    async def _insert(self, key: NonEmptySafeStrTuple, data: bytes) -> bool:
        """Write ``data`` only if ``key`` is absent (or expired); return whether written."""
        if not self._expiring:
            return await self._write(key, data, ITEM_NOT_AVAILABLE) is not None
        return (await self._apply_live(key, _absent, data)).applied

    async def _remove(self, key: NonEmptySafeStrTuple) -> bool:
        """Delete ``key``; return whether a live value was there (expired ones go too)."""
        if not self._expiring:
            return await self._delete(key, None)
        done = await self._apply_if(key, _present, None, want_data=True)
        return self._alive(done.before) is not None

    async def cull(self, *, max_concurrency: int | None = None) -> int:
        """Delete every expired value; return how many were deleted.

        Deadlines are absolute times stored with the values, so this works on any
        store, whatever its own ``ttl``.
        """
        now = _now()

        def expired(record: Record | None) -> bool:
            return record is not None and record.data is not None and not self._fresh(record.data, now)

        async def one(key: NonEmptySafeStrTuple) -> bool:
            if not expired(await self._read(key)):
                return False
            # Decided again atomically: a value rewritten meanwhile is kept.
            return (await self._apply_if(key, expired, None, want_data=True)).applied

        keys = [key async for key, _ in self._scan(False)]
        return sum(await bounded_map(one, keys, self._batch_limit(max_concurrency)))

    def _forbid_delete(self) -> None:
        if self.append_only:
            raise MutationPolicyError("append-only", "deletion is not allowed")

    def _forbid_overwrite(self, key: NonEmptySafeStrTuple) -> NoReturn:
        # A hook, so that a wrapper with its own policy reports that policy's name.
        raise MutationPolicyError("append-only", f"key {key!r} already exists")

    def _value_of(self, key: NonEmptySafeStrTuple, record: Record) -> Any:
        return VALUE_NOT_RETRIEVED if record.data is None else self._decode(key, record.data)

    # ------------------------------------------------------------------ dict protocol

    async def get_item(self, key: Any) -> V:
        """Return the value of ``key``; KeyError (with the normalised key) if absent."""
        k = self._key(key)
        return self._value_at(k, await self._read_data(k))

    def _get_now(self, key: Any) -> V:
        """:meth:`get_item`, synchronously (only where ``_reads_now``): the facade's ``d[k]``."""
        k = self._key(key)
        return self._value_at(k, self._read_data_now(k))

    def _value_at(self, k: NonEmptySafeStrTuple, data: bytes | None) -> V:
        """The value read as ``data`` for ``k``; KeyError if absent or expired."""
        if data is None or (self._expiring and not self._fresh(data)):
            raise KeyError(k)
        return self._decode(k, data)

    async def set_item(self, key: Any, value: V | Joker, *, ttl: float | None = None) -> None:
        """Store ``value`` (KEEP_CURRENT: no-op; DELETE_CURRENT: delete if present).

        Args:
            key: The key.
            value: The value, or a joker.
            ttl: Seconds this value lives, instead of the store's ``ttl``.
        """
        pending = self._start_set(key, value, ttl)
        if pending is not None:
            await pending

    def _start_set(
        self, key: Any, value: Any, ttl: float | None
    ) -> Coroutine[Any, Any, object] | None:
        """Do the synchronous part of :meth:`set_item`; return its I/O to await, if any.

        A memory store's plain write completes here, so the sync facade can skip
        the coroutine altogether (a third of such a write's cost).
        """
        k = self._key(key)
        if value is KEEP_CURRENT:
            return None
        if value is DELETE_CURRENT:
            self._forbid_delete()
            return self._remove(k)
        data = self._encode(k, value, ttl)
        if self.append_only:
            return self._insert_or_refuse(k, data)
        if self._writes_now:
            self._write_now(k, data)
            return None
        return self._write(k, data, None)

    async def _insert_or_refuse(self, key: NonEmptySafeStrTuple, data: bytes) -> None:
        if not await self._insert(key, data):
            self._forbid_overwrite(key)

    async def delete_item(self, key: Any) -> None:
        """Delete ``key``; KeyError if absent."""
        k = self._key(key)
        self._forbid_delete()
        if not await self._remove(k):
            raise KeyError(k)

    async def discard(self, key: Any) -> bool:
        """Delete ``key`` if present; return whether it was."""
        k = self._key(key)
        self._forbid_delete()
        return await self._remove(k)

    async def contains(self, key: Any) -> bool:
        """Whether ``key`` is stored."""
        return await self._live_stat(self._key(key)) is not None

    async def len(self) -> int:
        """The number of keys."""
        if not self._expiring:
            return await self._count()
        n = 0
        async for _ in self._live_scan(False):
            n += 1
        return n

    async def is_empty(self) -> bool:
        """Whether the store holds no key (stops at the first key found)."""
        async for _ in self._live_scan(False):
            return False
        return True

    async def get(self, key: Any, default: Any = None) -> V | Any:
        """The value of ``key``, or ``default`` if absent."""
        try:
            return await self.get_item(key)
        except KeyError:
            return default

    async def setdefault(self, key: Any, default: Any = None) -> V:
        """Return the value of ``key``, inserting ``default`` first if absent (atomic)."""
        if isinstance(default, Joker):
            raise TypeError("setdefault() does not accept jokers")
        result = await self.setdefault_if(
            key, default_value=default, condition=ANY_ETAG,
            expected_etag=ITEM_NOT_AVAILABLE, retrieve_value=ALWAYS_RETRIEVE,
        )  # fmt: skip
        if result.new_value is ITEM_NOT_AVAILABLE:
            # Deleted between our insert attempt and our read: insert again.
            return await self.setdefault(key, default)
        return cast(V, result.new_value)

    async def pop(self, key: Any, default: Any = _MISSING) -> V | Any:
        """Remove ``key`` and return its value (atomic read-and-delete)."""
        k = self._key(key)
        self._forbid_delete()
        done = await self._apply_live(k, _present, None, want_data=True)
        if done.before is None or done.before.data is None:
            if default is _MISSING:
                raise KeyError(k)
            return default
        return self._decode(k, done.before.data)

    async def popitem(self) -> tuple[NonEmptySafeStrTuple, V]:
        """Remove and return some (key, value) pair; KeyError if empty."""
        self._forbid_delete()
        while True:
            key = None
            async for key, _ in self._live_scan(False):  # noqa: B007 - key is used after the loop
                break  # any key will do; listing further would cost a full scan
            if key is None:
                raise KeyError("popitem(): the store is empty")
            value = await self.pop(key, _MISSING_VALUE)
            if value is not _MISSING_VALUE:
                return key, value

    async def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Store every pair of a mapping, a store, or an iterable of pairs (and kwargs)."""
        pairs: list[tuple[Any, Any]] = []
        if isinstance(other, PersiDict):
            async for pair in other.items():
                pairs.append(pair)
        elif isinstance(other, Mapping):
            pairs.extend(other.items())
        elif hasattr(other, "keys"):
            pairs.extend((k, other[k]) for k in other.keys())  # noqa: SIM118 - not a Mapping
        else:
            pairs.extend(other)
        pairs.extend(kwargs.items())
        await self.set_many(pairs)

    async def clear(self) -> None:
        """Delete every key."""
        self._forbid_delete()
        batch: list[NonEmptySafeStrTuple] = []
        async for key, _ in self._scan(False):
            batch.append(key)
        await self.delete_many(batch, missing_ok=True)

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> AsyncIterator[NonEmptySafeStrTuple]:
        return self.keys()

    async def keys(self) -> AsyncIterator[NonEmptySafeStrTuple]:
        """Iterate over the keys (lazily)."""
        async for key, _ in self._live_scan(False):
            yield key

    async def values(self) -> AsyncIterator[V]:
        """Iterate over the values, skipping keys deleted meanwhile."""
        async for _, value in self.items():
            yield value

    async def items(self) -> AsyncIterator[tuple[NonEmptySafeStrTuple, V]]:
        """Iterate over (key, value), skipping keys deleted meanwhile."""
        async for key, _ in self._scan(False):
            data = await self._live_data(key)
            if data is not None:
                yield key, self._decode(key, data)

    async def keys_and_timestamps(self) -> AsyncIterator[tuple[NonEmptySafeStrTuple, float]]:
        """Iterate over (key, last modification time)."""
        async for key, record in self._live_scan(True):
            if record is not None:
                yield key, record.mtime

    async def values_and_timestamps(self) -> AsyncIterator[tuple[V, float]]:
        """Iterate over (value, last modification time)."""
        async for _, value, mtime in self.items_and_timestamps():
            yield value, mtime

    async def items_and_timestamps(
        self,
    ) -> AsyncIterator[tuple[NonEmptySafeStrTuple, V, float]]:
        """Iterate over (key, value, last modification time)."""
        # Times come from the listing (every backend's listing knows them), so a
        # cached store need not ask its main store for each one.
        async for key, record in self._scan(True):
            data = await self._live_data(key)
            if data is not None and record is not None:
                yield key, self._decode(key, data), record.mtime

    async def random_key(self) -> NonEmptySafeStrTuple | None:
        """A uniformly random key, or None if the store is empty."""
        chosen: NonEmptySafeStrTuple | None = None
        seen = 0
        async for key, _ in self._live_scan(False):
            seen += 1
            if random.randrange(seen) == 0:  # reservoir sampling: one pass, O(1) memory
                chosen = key
        return chosen

    async def _keys_by_time(self, max_n: int | None, newest: bool) -> list[NonEmptySafeStrTuple]:
        if max_n is not None and max_n <= 0:
            return []
        pairs = [pair async for pair in self.keys_and_timestamps()]
        pick = heapq.nlargest if newest else heapq.nsmallest
        chosen = pick(len(pairs) if max_n is None else max_n, pairs, key=lambda p: p[1])
        return [key for key, _ in chosen]

    async def oldest_keys(self, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the least recently modified (at most ``max_n``)."""
        return await self._keys_by_time(max_n, newest=False)

    async def newest_keys(self, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the most recently modified (at most ``max_n``)."""
        return await self._keys_by_time(max_n, newest=True)

    async def oldest_values(self, max_n: int | None = None) -> list[V]:
        """Values of :meth:`oldest_keys` (keys deleted meanwhile are skipped)."""
        return await self._present_values(await self.oldest_keys(max_n))

    async def newest_values(self, max_n: int | None = None) -> list[V]:
        """Values of :meth:`newest_keys` (keys deleted meanwhile are skipped)."""
        return await self._present_values(await self.newest_keys(max_n))

    async def _present_values(self, keys: list[NonEmptySafeStrTuple]) -> list[V]:
        values = await self.get_many(keys, default=_MISSING_VALUE)
        return [v for v in values if v is not _MISSING_VALUE]

    # ------------------------------------------------------------------ metadata

    async def etag(self, key: Any) -> str:
        """The current ETag of ``key``; KeyError if absent."""
        k = self._key(key)
        record = await self._live_stat(k)
        if record is None:
            raise KeyError(k)
        return record.etag

    async def timestamp(self, key: Any) -> float:
        """The last modification time of ``key`` (POSIX seconds); KeyError if absent."""
        k = self._key(key)
        record = await self._live_stat(k)
        if record is None:
            raise KeyError(k)
        return record.mtime

    def get_subdict(self, prefix: Any) -> Self:
        """A store of the same class holding the keys under ``prefix`` (shares data)."""
        return self._subdict(to_prefix(prefix))

    async def subdicts(self) -> dict[str, Self]:
        """One subdict per first component of the multi-component keys."""
        firsts: set[str] = set()
        async for key, _ in self._live_scan(False):
            if len(key) > 1:
                firsts.add(key[0])
        return {name: self._subdict(SafeStrTuple(name)) for name in sorted(firsts)}

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, sorted by name."""
        return dict(sorted(self._param_dict().items()))

    def __repr__(self) -> str:
        params = self.get_params()
        for name in self._secret_params:
            if params.get(name) is not None:
                params[name] = _HIDDEN  # secrets never show in logs
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.get_params()))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ batches

    def _batch_limit(self, max_concurrency: int | None) -> int:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if not self.does_blocking_io and self.runs_inline:
            return 1  # pure in-memory work gains nothing from concurrency
        return max_concurrency or self._max_concurrency

    async def get_many(
        self, keys: Iterable[Any], *, default: Any = _MISSING, max_concurrency: int | None = None
    ) -> list[V | Any]:
        """The values of ``keys``, in order.

        Args:
            keys: The keys to read.
            default: Returned for a missing key; without it a missing key raises KeyError.
            max_concurrency: How many reads may run at once.
        """
        normalised = [self._key(k) for k in keys]

        async def one(k: NonEmptySafeStrTuple) -> Any:
            data = await self._live_data(k)
            if data is None:
                if default is _MISSING:
                    raise KeyError(k)
                return default
            return self._decode(k, data)

        return await bounded_map(one, normalised, self._batch_limit(max_concurrency))

    async def set_many(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], *,
        max_concurrency: int | None = None, ttl: float | None = None,
    ) -> None:  # fmt: skip
        """Store many pairs (a mapping or an iterable of pairs), concurrently.

        Args:
            items: A mapping, or an iterable of (key, value) pairs.
            max_concurrency: How many writes may run at once.
            ttl: Seconds these values live, instead of the store's ``ttl``.
        """
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"set_many expects (key, value) pairs, got {pair!r}")
        # Validate every key and value before the first write.
        prepared = [(self._key(k), v) for k, v in pairs]
        for k, v in prepared:
            if not isinstance(v, Joker):
                self._encode(k, v, ttl)

        async def one(pair: tuple[NonEmptySafeStrTuple, Any]) -> None:
            await self.set_item(pair[0], pair[1], ttl=ttl)

        await bounded_map(one, prepared, self._batch_limit(max_concurrency))

    async def delete_many(
        self, keys: Iterable[Any], *, missing_ok: bool = False,
        max_concurrency: int | None = None,
    ) -> int:  # fmt: skip
        """Delete many keys concurrently; return how many were deleted.

        Args:
            keys: The keys to delete.
            missing_ok: Ignore absent keys instead of raising KeyError.
            max_concurrency: How many deletions may run at once.
        """
        self._forbid_delete()
        normalised = [self._key(k) for k in keys]

        async def one(k: NonEmptySafeStrTuple) -> bool:
            deleted = await self._remove(k)
            if not deleted and not missing_ok:
                raise KeyError(k)
            return deleted

        done = await bounded_map(one, normalised, self._batch_limit(max_concurrency))
        return sum(done)

    # ------------------------------------------------------------------ conditional

    @staticmethod
    def _check_condition_args(
        condition: Any, expected_etag: Any, retrieve_value: Any = IF_ETAG_CHANGED
    ) -> None:
        _check_flag(condition, ETagConditionFlag, "condition")
        _check_flag(retrieve_value, RetrieveValueFlag, "retrieve_value")
        if not (isinstance(expected_etag, str) or expected_etag is ITEM_NOT_AVAILABLE):
            raise TypeError(
                f"expected_etag must be an ETag str or ITEM_NOT_AVAILABLE, got {expected_etag!r}"
            )

    async def _unchanged(
        self,
        key: NonEmptySafeStrTuple,
        satisfied: bool,
        record: Record | None,
        expected: ETagIfExists,
        retrieve: RetrieveValueFlag,
    ) -> ConditionalOperationResult[V]:
        """The result of an operation that left the key as it was."""
        if record is not None and retrieve is not NEVER_RETRIEVE and record.data is None:
            if retrieve is ALWAYS_RETRIEVE or expected != record.etag:
                record = self._alive(await self._read(key))
        if record is None:
            return ConditionalOperationResult(satisfied, ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE,
                                              ITEM_NOT_AVAILABLE)  # fmt: skip
        value: Any = VALUE_NOT_RETRIEVED
        if record.data is not None and retrieve is not NEVER_RETRIEVE:
            if retrieve is ALWAYS_RETRIEVE or expected != record.etag:
                value = self._decode(key, record.data)
        return ConditionalOperationResult(satisfied, record.etag, record.etag, value)

    async def get_item_if(
        self,
        key: Any,
        *,
        condition: ETagConditionFlag,
        expected_etag: ETagIfExists,
        retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:
        """Read ``key`` and report whether the ETag condition holds (never raises KeyError)."""
        self._check_condition_args(condition, expected_etag, retrieve_value)
        k = self._key(key)
        if self._expiring:
            record = self._alive(await self._read(k))  # the deadline is in the data
        elif retrieve_value is NEVER_RETRIEVE:
            record = await self._stat(k)
        elif retrieve_value is ALWAYS_RETRIEVE or not isinstance(expected_etag, str):
            record = await self._read(k)
        else:
            record = await self._read(k, if_none_match=expected_etag)
        satisfied = condition.check(expected_etag, _etag_of(record))
        return await self._unchanged(k, satisfied, record, expected_etag, retrieve_value)

    async def get_with_etag(self, key: Any) -> ConditionalOperationResult[V]:
        """The value and ETag of ``key`` in one read (ITEM_NOT_AVAILABLE if absent)."""
        return await self.get_item_if(key, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE,
                                      retrieve_value=ALWAYS_RETRIEVE)  # fmt: skip

    async def set_item_if(
        self,
        key: Any,
        *,
        value: V | Joker,
        condition: ETagConditionFlag,
        expected_etag: ETagIfExists,
        retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:
        """Write ``value`` only if the ETag condition holds, atomically."""
        self._check_condition_args(condition, expected_etag, retrieve_value)
        k = self._key(key)
        if value is DELETE_CURRENT:
            self._forbid_delete()
        data = None if isinstance(value, Joker) else self._encode(k, value)
        verdict = _Verdict(condition, expected_etag)
        keep = value is KEEP_CURRENT

        def decide(record: Record | None) -> bool:
            if not verdict.check(record) or keep:
                return False
            if data is not None and self.append_only and record is not None:
                self._forbid_overwrite(k)
            return True

        done = await self._apply_live(
            k, decide, data, data_if_kept=retrieve_value is not NEVER_RETRIEVE
        )
        if not done.applied:
            return await self._unchanged(k, verdict.satisfied, done.before, expected_etag,
                                         retrieve_value)  # fmt: skip
        actual = _etag_of(done.before)
        if data is None:  # DELETE_CURRENT
            return ConditionalOperationResult(True, actual, ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
        written: Any = value
        return ConditionalOperationResult(True, actual, cast(str, done.etag), written)

    async def setdefault_if(
        self,
        key: Any,
        *,
        default_value: V,
        condition: ETagConditionFlag,
        expected_etag: ETagIfExists,
        retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:
        """Insert ``default_value`` if ``key`` is absent and the condition holds, atomically.

        An existing key is never changed.
        """
        if isinstance(default_value, Joker):
            raise TypeError("default_value must be a regular value, not a joker")
        self._check_condition_args(condition, expected_etag, retrieve_value)
        k = self._key(key)
        data = self._encode(k, default_value)
        verdict = _Verdict(condition, expected_etag)

        def decide(record: Record | None) -> bool:
            return verdict.check(record) and record is None

        done = await self._apply_live(
            k, decide, data, data_if_kept=retrieve_value is not NEVER_RETRIEVE
        )
        if done.applied:
            return ConditionalOperationResult(True, ITEM_NOT_AVAILABLE, cast(str, done.etag),
                                              default_value)  # fmt: skip
        return await self._unchanged(k, verdict.satisfied, done.before, expected_etag,
                                     retrieve_value)  # fmt: skip

    async def discard_if(
        self, key: Any, *, condition: ETagConditionFlag, expected_etag: ETagIfExists
    ) -> ConditionalOperationResult[V]:
        """Delete ``key`` only if the ETag condition holds, atomically."""
        self._check_condition_args(condition, expected_etag)
        k = self._key(key)
        self._forbid_delete()
        verdict = _Verdict(condition, expected_etag)

        def decide(record: Record | None) -> bool:
            return verdict.check(record) and record is not None

        done = await self._apply_live(k, decide, None)
        if done.before is None:
            return ConditionalOperationResult(verdict.satisfied, ITEM_NOT_AVAILABLE,
                                              ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)  # fmt: skip
        actual = done.before.etag
        if done.applied:
            return ConditionalOperationResult(True, actual, ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
        return ConditionalOperationResult(False, actual, actual, VALUE_NOT_RETRIEVED)

    async def transform_item(
        self,
        key: Any,
        *,
        transformer: TransformingFunction[V] | Callable[[Any], Any],
        n_retries: int | None = 6,
    ) -> OperationResult[V]:
        """Read, transform and write back ``key`` atomically (compare-and-swap with retries).

        Args:
            key: The key.
            transformer: Called with the current value (or ITEM_NOT_AVAILABLE);
                returns the new value, KEEP_CURRENT or DELETE_CURRENT. It may be
                called several times when other writers interfere.
            n_retries: Retries after a conflict; None retries forever.

        Raises:
            ConcurrencyConflictError: When the retries run out.
        """
        if n_retries is not None and (
            isinstance(n_retries, bool) or not isinstance(n_retries, int) or n_retries < 0
        ):
            raise ValueError(f"n_retries must be a non-negative int or None, got {n_retries!r}")
        if not callable(transformer):
            raise TypeError("transformer must be callable")
        k = self._key(key)
        attempts = 0
        while True:
            attempts += 1
            stored = await self._read(k)
            record = self._alive(stored)
            current: Any = ITEM_NOT_AVAILABLE
            if record is not None and record.data is not None:
                current = self._decode(k, record.data)
            actual = _etag_of(record)
            new_value = transformer(current)
            if new_value is KEEP_CURRENT:
                return OperationResult(actual, current)
            if new_value is DELETE_CURRENT:
                self._forbid_delete()
                if record is None or await self._delete(k, record.etag):
                    return OperationResult(ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
            else:
                if self.append_only and record is not None:
                    self._forbid_overwrite(k)
                # An expired value is replaced as if absent, but only that exact one.
                new_etag = await self._write(k, self._encode(k, new_value), _etag_of(stored))
                if new_etag is not None:
                    return OperationResult(new_etag, new_value)
            if n_retries is not None and attempts > n_retries:
                raise ConcurrencyConflictError(k, attempts)
            # Jittered exponential backoff keeps contending writers from colliding again.
            await sleep(random.uniform(0, min(0.05, 0.0005 * 2**attempts)))


_MISSING_VALUE: Any = object()


class _Hidden:
    def __repr__(self) -> str:
        return "<hidden>"


_HIDDEN = _Hidden()
_SCAN_PAGE = 256  # keys whose expiry is checked concurrently while listing


def _present(record: Record | None) -> bool:
    return record is not None


def _absent(record: Record | None) -> bool:
    return record is None


class _Verdict:
    """Evaluates an ETag condition on a record and remembers the last answer.

    ``_apply_if`` may decide more than once (after a lost race, or inside a
    backend's lock): the result reports the answer on the state acted upon.
    """

    __slots__ = ("condition", "expected", "satisfied")

    def __init__(self, condition: ETagConditionFlag, expected: ETagIfExists) -> None:
        self.condition = condition
        self.expected = expected
        self.satisfied = False

    def check(self, record: Record | None) -> bool:
        self.satisfied = self.condition.check(self.expected, _etag_of(record))
        return self.satisfied
