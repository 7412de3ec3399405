"""How blocking work is run: inline when the sync facade drives, else in a worker thread.

Backends put each whole blocking operation (open+write+fsync+rename, say) in one
function and call ``await run_io(fn, *args)``: one worker-thread hop per logical
operation under an event loop, and a plain call when the sync facade drives the
coroutine inline (a contextvar tells which).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_INLINE: ContextVar[bool] = ContextVar("persidict_inline", default=False)


def is_inline() -> bool:
    """Whether the running coroutine is driven inline by the sync facade."""
    return _INLINE.get()


@contextmanager
def inline_mode() -> Iterator[None]:
    """Mark coroutines stepped inside this block as driven inline."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


async def run_io(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """Run a blocking function: directly when inline, else in a worker thread."""
    if _INLINE.get():
        return fn(*args)
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)


async def sleep(seconds: float) -> None:
    """Sleep without blocking an event loop (and without one when inline)."""
    if _INLINE.get():
        time.sleep(seconds)
        return
    import anyio

    await anyio.sleep(seconds)
