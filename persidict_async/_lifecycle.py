"""A registry of stores holding open network clients, so they can be closed at exit."""

from __future__ import annotations

import weakref
from typing import Any, Protocol


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_OPEN: weakref.WeakSet[Any] = weakref.WeakSet()


def register_open(store: _Closable) -> None:
    """Remember a store that opened a client (weakly)."""
    _OPEN.add(store)


def unregister_open(store: _Closable) -> None:
    """Forget a store whose clients are closed."""
    _OPEN.discard(store)


async def close_all_open_stores() -> None:
    """Close every registered store's clients of the running loop, ignoring failures.

    Stores stay registered: they may hold clients of other event loops too.
    """
    for store in list(_OPEN):
        try:
            await store.aclose()
        except Exception:  # a server gone away must not stop the others from closing
            pass
