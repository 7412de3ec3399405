"""memoize: cache a function's results in any store, computing each result once.

The result of ``f(*args, **kwargs)`` is stored under the key
``(function id, digest of the arguments)``. The first caller of given arguments
claims them with an atomic insert-if-absent of a claim entry
(``setdefault_if(..., condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE)``),
computes, stores the result and releases the claim; concurrent callers (threads,
tasks, processes, machines sharing the store) wait for the result instead of
computing it again.

The protocol is written once, as a generator of store operations; a sync and an
async driver run it for sync and async functions.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import hashlib
import inspect
import math
import pathlib
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any, ParamSpec, TypeVar, overload

from .base import PersiDict
from .flags import ALWAYS_RETRIEVE, ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, ConditionalOperationResult
from .keys import replace_unsafe_chars
from .wrappers._common import check_store

__all__ = ["memoize"]

P = ParamSpec("P")
R = TypeVar("R")

_CLAIMS = "claims~"  # the claims of a function live under (function id, _CLAIMS, digest)
_FIRST_POLL = 0.005  # seconds before a waiter first looks again; doubles up to _MAX_POLL
_MAX_POLL = 0.25
_MISSING: Any = object()

# ---------------------------------------------------------------------- argument digests


def _encode(value: Any, out: list[bytes]) -> None:
    """Append a canonical, type-tagged encoding of ``value`` (no PYTHONHASHSEED dependence)."""
    t = type(value)
    if value is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if value else b"F")
    elif t is int:
        out.append(b"i%d;" % value)
    elif t is float:
        out.append(b"f" + repr(value).encode() + b";")
    elif t is complex:
        out.append(b"c" + repr(value).encode() + b";")
    elif t is str:
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    elif t in (bytes, bytearray):
        out.append(b"b%d:" % len(value))
        out.append(bytes(value))
    elif t in (tuple, list):
        out.append(b"(%d:" % len(value) if t is tuple else b"[%d:" % len(value))
        for item in value:
            _encode(item, out)
    elif t is dict:
        pairs = sorted((_digest_bytes(k), _digest_bytes(v)) for k, v in value.items())
        out.append(b"{%d:" % len(pairs))
        for k, v in pairs:
            out.append(k)
            out.append(v)
    elif t in (set, frozenset):
        # Sorted encodings: a set's iteration order changes with the hash seed.
        items = sorted(_digest_bytes(v) for v in value)
        out.append(b"<%d:" % len(items))
        out.extend(items)
    elif isinstance(value, enum.Enum):
        _tagged(b"E", value, value.name, out)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        _tagged(b"D", value, fields, out)
    elif isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal,
                            uuid.UUID, pathlib.PurePath)):  # fmt: skip
        _tagged(b"V", value, repr(value), out)
    else:
        raise TypeError(
            f"memoize cannot key an argument of type {t.__module__}.{t.__qualname__}; "
            "supported: None, bool, int, float, complex, str, bytes, tuple, list, dict, set, "
            "frozenset, enums, dataclasses, date/time, Decimal, UUID, paths (or leave it out "
            "of the key with ignore=)"
        )


def _tagged(tag: bytes, value: Any, body: Any, out: list[bytes]) -> None:
    t = type(value)
    out.append(tag)
    _encode(f"{t.__module__}.{t.__qualname__}", out)
    _encode(body, out)


def _digest_bytes(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return hashlib.sha256(b"".join(out)).digest()


def _function_id(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "unknown"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "function")
    return replace_unsafe_chars(f"{module}.{qualname}")


# ---------------------------------------------------------------------- the protocol

# One step of the protocol: ("store", method name, kwargs), ("compute",), ("sleep", seconds).
_Step = tuple[Any, ...]


class _Memo:
    """What one decorated function needs: its store, key parts and options."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        ignore: Iterable[str],
        timeout: float | None,
        stale_after: float,
    ) -> None:
        self.fn = fn
        self.signature = inspect.signature(fn)
        self.ignore = frozenset(ignore)
        unknown = self.ignore - set(self.signature.parameters)
        if unknown:
            raise ValueError(f"ignore names no parameter of {fn.__qualname__}: {sorted(unknown)}")
        self.function_id = name if name is not None else _function_id(fn)
        self.timeout = timeout
        self.stale_after = stale_after

    def digest(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()  # f(1) and f(1, b=<default>) are one call
        named = {k: v for k, v in bound.arguments.items() if k not in self.ignore}
        return hashlib.sha256(_digest_bytes(named)).hexdigest()

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
        return self.function_id, self.digest(args, kwargs)

    def steps(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Generator[_Step, Any, Any]:
        """The memoized call as a sequence of steps; returns the result."""
        result_key = self.key(args, kwargs)
        claim_key = (result_key[0], _CLAIMS, result_key[1])
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = _FIRST_POLL
        while True:
            found = yield ("store", "get", {"key": result_key, "default": _MISSING})
            if found is not _MISSING:
                return found
            token = f"{uuid.uuid4().hex} {time.time():.6f}"
            claim: ConditionalOperationResult[Any] = yield (
                "store", "setdefault_if",
                {"key": claim_key, "default_value": token, "condition": ETAG_IS_THE_SAME,
                 "expected_etag": ITEM_NOT_AVAILABLE, "retrieve_value": ALWAYS_RETRIEVE},
            )  # fmt: skip
            if claim.value_was_mutated:  # ours: compute
                release = ("store", "discard_if",
                           {"key": claim_key, "condition": ETAG_IS_THE_SAME,
                            "expected_etag": claim.resulting_etag})  # fmt: skip
                try:
                    # The previous owner may have stored the result and released the
                    # claim between our look and our claim.
                    value = yield ("store", "get", {"key": result_key, "default": _MISSING})
                    if value is _MISSING:
                        value = yield ("compute",)
                        yield ("store", "set_item", {"key": result_key, "value": value})
                except GeneratorExit:
                    raise  # abandoned by its driver: nothing may be yielded now
                except BaseException:
                    # A failed computation is not cached: release the claim so the
                    # next caller tries again, then let the error through.
                    yield release
                    raise
                yield release
                return value
            if claim.actual_etag is ITEM_NOT_AVAILABLE:
                continue  # released between the insert attempt and the read: try again
            if self._is_stale(claim.new_value):
                # Its owner died (or overran stale_after): remove exactly that claim.
                yield ("store", "discard_if",
                       {"key": claim_key, "condition": ETAG_IS_THE_SAME,
                        "expected_etag": claim.actual_etag})  # fmt: skip
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.function_id}: another caller has been computing the result of "
                    f"these arguments for over {self.timeout} s"
                )
            wait = random.uniform(delay / 2, delay)
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            yield ("sleep", wait)
            delay = min(delay * 2, _MAX_POLL)

    def _is_stale(self, token: Any) -> bool:
        try:
            claimed_at = float(str(token).rpartition(" ")[2])
        except ValueError:
            return True  # not a claim this protocol wrote
        return time.time() - claimed_at > self.stale_after


def _run_sync(memo: _Memo, store: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    steps = memo.steps(args, kwargs)
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            if step[0] == "store":
                reply = getattr(store, step[1])(**step[2])
            elif step[0] == "compute":
                reply = memo.fn(*args, **kwargs)
            else:
                time.sleep(step[1])
                reply = None
        except BaseException as exc:
            error = exc


async def _run_async(
    memo: _Memo, store: PersiDict[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    import anyio

    steps = memo.steps(args, kwargs)
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value
        try:
            if step[0] == "store":
                method = getattr(store, step[1])
                if error is not None:
                    # Releasing a claim after a failure or a cancellation must still happen.
                    with anyio.CancelScope(shield=True):
                        reply = await method(**step[2])
                else:
                    reply = await method(**step[2])
            elif step[0] == "compute":
                reply = await memo.fn(*args, **kwargs)
            else:
                await anyio.sleep(step[1])
                reply = None
            error = None
        except BaseException as exc:
            error = exc


class _Decorator:
    """The decorator returned by :func:`memoize` (typed for sync and async functions)."""

    def __init__(self, store: Any, options: dict[str, Any]) -> None:
        self.store = store
        self.options = options

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        memo = _Memo(fn, **self.options)
        core = check_store("store", self.store)
        wrapper: Callable[P, Any]
        if inspect.iscoroutinefunction(fn):

            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await _run_async(memo, core, args, kwargs)

            wrapper = async_wrapper
        else:
            from persidict_sync import PersiDict as SyncPersiDict  # the facade drives sync calls

            facade = SyncPersiDict.wrap(core)

            def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return _run_sync(memo, facade, args, kwargs)

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, fn)

        def cache_key(*args: P.args, **kwargs: P.kwargs) -> tuple[str, str]:
            """The store key of the result of these arguments."""
            return memo.key(args, kwargs)

        vars(wrapper).update(cache_key=cache_key, store=self.store)
        return wrapper


def memoize(
    store: Any,
    *,
    name: str | None = None,
    ignore: Iterable[str] = (),
    timeout: float | None = None,
    stale_after: float = 600.0,
) -> _Decorator:
    """Cache the results of a sync or async function in ``store``; compute each once.

    The result of a call is stored under ``(function id, sha256 of the arguments)``.
    The function id is ``module.qualname`` (made key-safe) or ``name``. Arguments
    are bound to the signature first, so ``f(1, 2)``, ``f(1, b=2)`` and (with
    ``b=2`` the default) ``f(1)`` are one call. The digest is stable across
    processes and machines (it never depends on ``hash()``); it supports None,
    bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset (all
    nested), enum members, dataclass instances, date/time values, Decimal, UUID
    and paths; other types raise TypeError (leave them out with ``ignore``).
    Results must be storable in ``store`` (any value for ``pkl``, JSON values for
    ``json``). Exceptions are not cached.

    Concurrent callers of the same arguments compute once: the first claims the
    call with an atomic insert-if-absent of a claim entry, computes, stores the
    result and releases the claim (also when it raises); the others poll with
    backoff until the result appears. A claim older than ``stale_after`` seconds
    (by the claimer's wall clock) is taken to be a crashed caller's and is taken
    over, so keep it above the longest computation.

    The decorated function keeps its signature and gains ``cache_key(*args,
    **kwargs)`` (the key of a call's result, e.g. to ``discard`` it). Sync
    functions use the sync facade of ``store``, async functions its async store;
    either kind of store may be given. The store must not be append-only
    (claims are deleted).

    Args:
        store: Any PersiDict (sync facade or async store).
        name: The function id to use instead of ``module.qualname``
            (e.g. to share results across renames, or to version them).
        ignore: Parameter names left out of the key (e.g. ``"self"``).
        timeout: Seconds a caller waits for another caller's computation before
            raising TimeoutError (None: until the result appears or the claim goes stale).
        stale_after: Age in seconds after which a claim is taken over.

    Raises:
        TypeError: ``store`` is not a store.
        ValueError: Bad options, or an append-only store.
    """
    core = check_store("store", store)
    if core.append_only:
        raise ValueError("memoize needs a store that is not append-only: claims are deleted")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise ValueError(f"timeout must be None or a number >= 0, got {timeout!r}")
    if not isinstance(stale_after, (int, float)) or not stale_after > 0 or math.isnan(stale_after):
        raise ValueError(f"stale_after must be a number > 0, got {stale_after!r}")
    ignore = tuple(ignore)
    if not all(isinstance(n, str) for n in ignore):
        raise TypeError("ignore must be parameter names (str)")
    return _Decorator(store, {"name": name, "ignore": ignore, "timeout": timeout,
                              "stale_after": float(stale_after)})  # fmt: skip

