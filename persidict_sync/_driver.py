"""The one driver behind the sync facade.

Local stores: the coroutine is stepped inline in the caller's thread (no loop,
no thread hop); ``run_io`` sees the inline mode and calls blocking functions
directly, so the coroutine finishes on its first step. This works in any
thread and inside a running event loop (a notebook cell).

Network stores: the coroutine runs on one process-wide event loop in a daemon
thread, reached through an anyio BlockingPortal that is started on first use,
closed at interpreter exit, rebuilt after ``fork``, and that cancels the
coroutine when the caller is interrupted (KeyboardInterrupt).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, TypeVar

from persidict_async._io import _INLINE
from persidict_async._lifecycle import close_all_open_stores

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

T = TypeVar("T")

# How many items one portal call fetches while iterating a network store.
PAGE_SIZE = 256
# How long interpreter exit waits for network clients to close.
EXIT_TIMEOUT = 5.0


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that performs only local I/O to completion, in this thread."""
    token = _INLINE.set(True)  # run_io and sleep then call their functions directly
    try:
        return run_bare(coro)
    finally:
        _INLINE.reset(token)


def run_bare(coro: Coroutine[Any, Any, T]) -> T:
    """Step a coroutine that never suspends to completion (no loop, no thread).

    :func:`run_inline` is this with the inline mode set; a plain get or set of a
    store without blocking I/O (memory) needs no mode, which saves a good part of
    its overhead.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError(
        "a local store's coroutine waited on an event loop; it cannot be driven inline"
    )


class _Portal:
    """The lazily started, fork-aware, process-wide event loop thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def get(self) -> BlockingPortal:
        portal = self._portal
        if portal is not None and self._pid == os.getpid():
            return portal
        with self._lock:
            if self._portal is None or self._pid != os.getpid():
                self._start()
            assert self._portal is not None
            return self._portal

    def _start(self) -> None:
        from anyio import run
        from anyio.from_thread import BlockingPortal

        ready: Future[BlockingPortal] = Future()

        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        def main() -> None:
            try:
                run(serve)
            except BaseException as exc:  # report start-up failures to the caller
                if not ready.done():
                    ready.set_exception(exc)

        thread = threading.Thread(target=main, name="persidict-portal", daemon=True)
        thread.start()
        self._portal = ready.result()
        self._thread = thread
        self._pid = os.getpid()

    def in_portal_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def after_fork_in_child(self) -> None:
        # The loop thread does not exist in the child; the next call starts a new one.
        self._lock = threading.Lock()
        self._portal = None
        self._thread = None
        self._pid = 0

    def shutdown(self) -> None:
        """Close open network clients, then stop the loop (called at exit)."""
        portal = self._portal
        if portal is None or self._pid != os.getpid():
            return
        try:
            portal.start_task_soon(close_all_open_stores).result(timeout=EXIT_TIMEOUT)
        except (FutureTimeout, Exception):
            pass  # exit must not hang or fail because a server went away
        try:
            portal.start_task_soon(portal.stop, True).result(timeout=EXIT_TIMEOUT)
        except (FutureTimeout, Exception):
            pass
        if self._thread is not None:
            self._thread.join(timeout=EXIT_TIMEOUT)
        self._portal = None


_PORTAL = _Portal()
atexit.register(_PORTAL.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PORTAL.after_fork_in_child)


async def _await(coro: Coroutine[Any, Any, T]) -> T:
    return await coro


def run_on_portal(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the shared event loop thread and wait for its result."""
    if _PORTAL.in_portal_thread():
        coro.close()
        raise RuntimeError("the sync facade cannot be used from its own event loop thread")
    future = _PORTAL.get().start_task_soon(_await, coro)
    try:
        result: T = future.result()
    except KeyboardInterrupt:
        future.cancel()  # cancels the coroutine's task on the loop
        raise
    return result


def run(coro: Coroutine[Any, Any, T], inline: bool) -> T:
    """Run a store coroutine inline (local I/O) or on the portal (network I/O)."""
    return run_inline(coro) if inline else run_on_portal(coro)


async def _take(agen: AsyncIterator[T], n: int) -> tuple[list[T], bool]:
    page: list[T] = []
    try:
        while len(page) < n:
            page.append(await agen.__anext__())
    except StopAsyncIteration:
        return page, True
    return page, False


async def _aclose(agen: AsyncIterator[Any]) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        await aclose()


def iterate(agen: AsyncIterator[T], inline: bool) -> Iterator[T]:
    """Turn an async iterator of a store into a lazy sync iterator."""
    try:
        if inline:
            while True:
                try:
                    item: T = run_inline(agen.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
                yield item
        else:
            done = False
            while not done:
                page, done = run_on_portal(_take(agen, PAGE_SIZE))
                yield from page
    finally:
        run(_aclose(agen), inline)
