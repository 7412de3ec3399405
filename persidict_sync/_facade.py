"""One generic MutableMapping that drives any async store through the driver."""

from __future__ import annotations

from collections.abc import (
    Callable,
    Coroutine,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from typing import Any, ClassVar, Generic, Self, TypeVar

import persidict_async as core
from persidict_async.base import _MISSING
from persidict_async.flags import (
    IF_ETAG_CHANGED,
    ConditionalOperationResult,
    ETagConditionFlag,
    ETagIfExists,
    Joker,
    OperationResult,
    RetrieveValueFlag,
)
from persidict_async.keys import NonEmptySafeStrTuple

from ._driver import iterate, run, run_bare, run_inline

__all__ = ["PersiDict"]

V = TypeVar("V")
T = TypeVar("T")

_FACADES: dict[type, type[PersiDict[Any]]] = {}


def to_async(value: Any) -> Any:
    """Replace sync facades (also inside dicts, lists and tuples) by the stores they drive."""
    if isinstance(value, PersiDict):
        return value.aio
    if isinstance(value, dict):
        return {k: to_async(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(to_async(v) for v in value)
    return value


def to_sync(value: Any) -> Any:
    """Wrap async stores (also inside dicts) in their sync facades."""
    if isinstance(value, core.PersiDict):
        return PersiDict.wrap(value)
    if isinstance(value, dict):
        return {k: to_sync(v) for k, v in value.items()}
    return value


class PersiDict(MutableMapping[NonEmptySafeStrTuple, V], Generic[V]):
    """A persistent dict with the classic synchronous API.

    Subclasses name the async store they drive (``_async_class``); the async
    store itself is available as ``.aio``.
    """

    _async_class: ClassVar[type[core.PersiDict[Any]]] = core.PersiDict  # type: ignore[type-abstract]
    _is_persidict_facade: ClassVar[bool] = True
    aio: core.PersiDict[V]
    _inline: bool
    _step: Callable[[Coroutine[Any, Any, Any]], Any]
    _get_item: Callable[[Any], Coroutine[Any, Any, V]]
    _set_item: Callable[[Any, Any], Coroutine[Any, Any, None]]
    _starts_set: bool
    _get_now: Callable[[Any], V] | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _FACADES.setdefault(cls._async_class, cls)

    def __init__(self, **kwargs: Any) -> None:
        """Create the async store with the same keyword arguments and drive it."""
        self._attach(self._async_class(**to_async(kwargs)))

    def _attach(self, store: core.PersiDict[V]) -> None:
        self.aio = store
        self._inline = store.runs_inline
        # get and set of a store without blocking I/O never reach run_io or sleep.
        self._step = run_bare if store.runs_inline and not store.does_blocking_io else run_inline
        self._get_item = store.get_item
        self._set_item = store.set_item
        # Only where set_item is the base class's (a wrapper may override it).
        self._starts_set = (
            self._step is run_bare and type(store).set_item is core.PersiDict.set_item
        )
        # A store whose reads finish in this thread is read without any coroutine.
        self._get_now = (
            store._get_now
            if store._reads_now
            and store.runs_inline
            and type(store).get_item is core.PersiDict.get_item
            and type(store).get is core.PersiDict.get
            else None
        )

    @classmethod
    def wrap(cls, store: core.PersiDict[T]) -> PersiDict[T]:
        """The sync facade of an async store (its most specific registered class)."""
        for klass in type(store).__mro__:
            facade = _FACADES.get(klass)
            if facade is not None:
                break
        else:
            facade = PersiDict
        obj: PersiDict[T] = facade.__new__(facade)
        obj._attach(store)
        return obj

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return run(coro, self._inline)

    # ------------------------------------------------------------------ dict protocol

    # The two hottest paths skip call layers for inline stores.
    def __getitem__(self, key: Any) -> V:
        get_now = self._get_now
        if get_now is not None:
            return get_now(key)
        if self._inline:
            value: V = self._step(self._get_item(key))
            return value
        return self._run(self.aio.get_item(key))

    def __setitem__(self, key: Any, value: V | Joker) -> None:
        if self._starts_set:
            # set_item's own logic, minus its coroutine: a memory write ends here.
            pending = self.aio._start_set(key, value, None)
            if pending is not None:
                self._step(pending)
        elif self._inline:
            self._step(self._set_item(key, value))
        else:
            self._run(self.aio.set_item(key, value))

    def __delitem__(self, key: Any) -> None:
        self._run(self.aio.delete_item(key))

    def __contains__(self, key: object) -> bool:
        return self._run(self.aio.contains(key))

    def __len__(self) -> int:
        return self._run(self.aio.len())

    def __bool__(self) -> bool:
        return not self._run(self.aio.is_empty())

    def __iter__(self) -> Iterator[NonEmptySafeStrTuple]:
        return iterate(self.aio.keys(), self._inline)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PersiDict) and other.aio is self.aio:
            return True
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(self) != len(other):
            return False
        for key, value in other.items():
            try:
                if self[key] != value:
                    return False
            except (KeyError, TypeError, ValueError):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __ior__(self, other: Any) -> Self:
        self.update(other)
        return self

    def __repr__(self) -> str:
        return repr(self.aio)

    def __reduce__(self) -> tuple[Any, ...]:
        return (PersiDict.wrap, (self.aio,))

    def __getattr__(self, name: str) -> Any:
        # Plain attributes of the async store (base_dir, bucket_name ...) show through;
        # coroutine methods do not, they have sync twins here.
        if name.startswith("__") or name in (
            "aio", "_inline", "_step", "_get_item", "_set_item", "_starts_set", "_get_now"
        ):  # fmt: skip
            raise AttributeError(name)
        value = getattr(self.aio, name)
        if callable(value) and not isinstance(value, type):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return to_sync(value)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close network clients (a no-op for local stores)."""
        self._run(self.aio.aclose())

    def keys(self) -> KeysView[NonEmptySafeStrTuple]:
        """A lazy view of the keys."""
        return KeysView(self)

    def values(self) -> ValuesView[V]:
        """A lazy view of the values (keys deleted meanwhile are skipped)."""
        return _Values(self)

    def items(self) -> ItemsView[NonEmptySafeStrTuple, V]:
        """A lazy view of the (key, value) pairs (keys deleted meanwhile are skipped)."""
        return _Items(self)

    def get(self, key: Any, default: Any = None) -> V | Any:
        """The value of ``key``, or ``default`` if absent."""
        get_now = self._get_now
        if get_now is not None:
            try:
                return get_now(key)
            except KeyError:
                return default
        return self._run(self.aio.get(key, default))

    def setdefault(self, key: Any, default: Any = None) -> V:
        """The value of ``key``, inserting ``default`` first if absent (atomic)."""
        return self._run(self.aio.setdefault(key, default))

    def pop(self, key: Any, default: Any = _MISSING) -> V | Any:
        """Remove ``key`` and return its value (``default`` or KeyError if absent)."""
        return self._run(self.aio.pop(key, default))

    def popitem(self) -> tuple[NonEmptySafeStrTuple, V]:
        """Remove and return some (key, value); KeyError if empty."""
        return self._run(self.aio.popitem())

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Store every pair of a mapping or iterable of pairs (one batch)."""
        self._run(self.aio.update(to_async(other), **kwargs))

    def clear(self) -> None:
        """Delete every key."""
        self._run(self.aio.clear())

    # The same operations under the names of the async API.
    def get_item(self, key: Any) -> V:
        """Same as ``d[key]``."""
        return self[key]

    def set_item(self, key: Any, value: V | Joker, *, ttl: float | None = None) -> None:
        """Same as ``d[key] = value``; ``ttl`` overrides the store's expiry for this value."""
        self._run(self.aio.set_item(key, value, ttl=ttl))

    set = set_item

    def cull(self, *, max_concurrency: int | None = None) -> int:
        """Delete every expired value; return how many were deleted."""
        return self._run(self.aio.cull(max_concurrency=max_concurrency))

    def delete_item(self, key: Any) -> None:
        """Same as ``del d[key]``."""
        del self[key]

    def discard(self, key: Any) -> bool:
        """Delete ``key`` if present; return whether it was."""
        return self._run(self.aio.discard(key))

    # ------------------------------------------------------------------ extras

    def etag(self, key: Any) -> str:
        """The current ETag of ``key``."""
        return self._run(self.aio.etag(key))

    def timestamp(self, key: Any) -> float:
        """The last modification time of ``key`` (POSIX seconds)."""
        return self._run(self.aio.timestamp(key))

    def random_key(self) -> NonEmptySafeStrTuple | None:
        """A random key, or None if empty."""
        return self._run(self.aio.random_key())

    def oldest_keys(self, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the least recently modified."""
        return self._run(self.aio.oldest_keys(max_n))

    def newest_keys(self, max_n: int | None = None) -> list[NonEmptySafeStrTuple]:
        """Keys from the most recently modified."""
        return self._run(self.aio.newest_keys(max_n))

    def oldest_values(self, max_n: int | None = None) -> list[V]:
        """Values from the least recently modified."""
        return self._run(self.aio.oldest_values(max_n))

    def newest_values(self, max_n: int | None = None) -> list[V]:
        """Values from the most recently modified."""
        return self._run(self.aio.newest_values(max_n))

    def keys_and_timestamps(self) -> Iterator[tuple[NonEmptySafeStrTuple, float]]:
        """Iterate over (key, last modification time)."""
        return iterate(self.aio.keys_and_timestamps(), self._inline)

    def values_and_timestamps(self) -> Iterator[tuple[V, float]]:
        """Iterate over (value, last modification time)."""
        return iterate(self.aio.values_and_timestamps(), self._inline)

    def items_and_timestamps(self) -> Iterator[tuple[NonEmptySafeStrTuple, V, float]]:
        """Iterate over (key, value, last modification time)."""
        return iterate(self.aio.items_and_timestamps(), self._inline)

    def get_subdict(self, prefix: Any) -> Self:
        """A store of the same class holding the keys under ``prefix``."""
        return type(self).wrap(self.aio.get_subdict(prefix))  # type: ignore[return-value]

    def subdicts(self) -> dict[str, Self]:
        """One subdict per first component of the multi-component keys."""
        found = self._run(self.aio.subdicts())
        return {name: type(self).wrap(sub) for name, sub in found.items()}  # type: ignore[misc]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, sorted by name."""
        return self.aio.get_params()

    # ------------------------------------------------------------------ batches

    def get_many(
        self, keys: Iterable[Any], *, default: Any = _MISSING, max_concurrency: int | None = None
    ) -> list[V | Any]:
        """The values of ``keys`` in order (``default`` or KeyError for missing keys)."""
        return self._run(self.aio.get_many(keys, default=default, max_concurrency=max_concurrency))

    def set_many(
        self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], *,
        max_concurrency: int | None = None, ttl: float | None = None,
    ) -> None:  # fmt: skip
        """Store many pairs in one batch (``ttl`` overrides the store's expiry)."""
        self._run(self.aio.set_many(items, max_concurrency=max_concurrency, ttl=ttl))

    def delete_many(
        self, keys: Iterable[Any], *, missing_ok: bool = False, max_concurrency: int | None = None
    ) -> int:
        """Delete many keys in one batch; return how many were deleted."""
        return self._run(
            self.aio.delete_many(keys, missing_ok=missing_ok, max_concurrency=max_concurrency)
        )

    # ------------------------------------------------------------------ conditional

    def get_item_if(
        self, key: Any, *, condition: ETagConditionFlag, expected_etag: ETagIfExists,
        retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:  # fmt: skip
        """Read ``key`` and report whether the ETag condition holds."""
        return self._run(self.aio.get_item_if(
            key, condition=condition, expected_etag=expected_etag, retrieve_value=retrieve_value))

    def set_item_if(
        self, key: Any, *, value: V | Joker, condition: ETagConditionFlag,
        expected_etag: ETagIfExists, retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:  # fmt: skip
        """Write ``value`` only if the ETag condition holds, atomically."""
        return self._run(self.aio.set_item_if(
            key, value=value, condition=condition, expected_etag=expected_etag,
            retrieve_value=retrieve_value))  # fmt: skip

    def setdefault_if(
        self, key: Any, *, default_value: V, condition: ETagConditionFlag,
        expected_etag: ETagIfExists, retrieve_value: RetrieveValueFlag = IF_ETAG_CHANGED,
    ) -> ConditionalOperationResult[V]:  # fmt: skip
        """Insert ``default_value`` if absent and the condition holds, atomically."""
        return self._run(self.aio.setdefault_if(
            key, default_value=default_value, condition=condition,
            expected_etag=expected_etag, retrieve_value=retrieve_value))  # fmt: skip

    def discard_if(
        self, key: Any, *, condition: ETagConditionFlag, expected_etag: ETagIfExists
    ) -> ConditionalOperationResult[V]:
        """Delete ``key`` only if the ETag condition holds, atomically."""
        return self._run(
            self.aio.discard_if(key, condition=condition, expected_etag=expected_etag))

    def get_with_etag(self, key: Any) -> ConditionalOperationResult[V]:
        """The value and ETag of ``key`` in one read."""
        return self._run(self.aio.get_with_etag(key))

    def transform_item(
        self, key: Any, *, transformer: Callable[[Any], Any], n_retries: int | None = 6
    ) -> OperationResult[V]:
        """Read, transform and write back ``key`` atomically."""
        return self._run(
            self.aio.transform_item(key, transformer=transformer, n_retries=n_retries))


class _Values(ValuesView[V]):
    _mapping: PersiDict[V]

    def __iter__(self) -> Iterator[V]:
        return iterate(self._mapping.aio.values(), self._mapping._inline)


class _Items(ItemsView[NonEmptySafeStrTuple, V]):
    _mapping: PersiDict[V]

    def __iter__(self) -> Iterator[tuple[NonEmptySafeStrTuple, V]]:
        return iterate(self._mapping.aio.items(), self._mapping._inline)
