"""One test body for both APIs: the sync facade seen through awaitable calls.

``Awaitified(sync_store)`` exposes the async API's names; each call runs the
sync facade method and returns an awaitable of its result, and iteration
methods return async iterators. A test written against the async API thus
checks the sync facade too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import persidict_sync as sync

_ITERATORS = {
    "keys", "values", "items",
    "keys_and_timestamps", "values_and_timestamps", "items_and_timestamps",
}  # fmt: skip
_PLAIN = {"get_subdict", "get_params"}


async def _aiter(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _wrap(value: Any) -> Any:
    if isinstance(value, sync.PersiDict):
        return Awaitified(value)
    if isinstance(value, dict) and value and all(isinstance(v, sync.PersiDict) for v in value.values()):
        return {k: Awaitified(v) for k, v in value.items()}
    return value


class Awaitified:
    """The async API over a sync facade (for shared test bodies)."""

    def __init__(self, facade: sync.PersiDict[Any]) -> None:
        self.facade = facade

    def __getattr__(self, name: str) -> Any:
        facade = self.facade
        if name in _ITERATORS:
            return lambda *a, **kw: _aiter(getattr(facade, name)(*a, **kw))
        if name in _PLAIN:
            return lambda *a, **kw: _wrap(getattr(facade, name)(*a, **kw))
        special = {
            "len": lambda: len(facade),
            "contains": lambda k: k in facade,
            "is_empty": lambda: not facade,
            "aclose": facade.close,
            "get_item": lambda k: facade[k],
            "set_item": facade.set_item,
            "delete_item": facade.__delitem__,
        }
        if name in special:
            fn = special[name]
        else:
            fn = getattr(facade, name)
            if not callable(fn):
                return fn

        async def call(*args: Any, **kwargs: Any) -> Any:
            return _wrap(fn(*args, **kwargs))

        return call

    def __aiter__(self) -> AsyncIterator[Any]:
        return _aiter(iter(self.facade))

    def __repr__(self) -> str:
        return f"Awaitified({self.facade!r})"


def reopen(store: Any, **params: Any) -> Any:
    """A second instance addressing the same data (built from get_params(), or ``params``)."""
    if isinstance(store, Awaitified):
        facade = store.facade
        return Awaitified(type(facade)(**(params or facade.get_params())))
    return type(store)(**(params or store.get_params()))
