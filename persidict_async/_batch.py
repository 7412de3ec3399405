"""Bounded-concurrency mapping used by the batch operations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ._io import is_inline

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(
    fn: Callable[[T], Awaitable[R]], items: Sequence[T], max_concurrency: int
) -> list[R]:
    """Apply ``fn`` to every item with at most ``max_concurrency`` running at once.

    Results keep the order of ``items``. The first failure cancels the rest and
    is raised as itself (not wrapped in an exception group). Driven inline (no
    event loop), the items are processed one after another.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    if is_inline() or max_concurrency == 1 or len(items) <= 1:
        return [await fn(item) for item in items]

    import anyio

    results: list[R] = [None] * len(items)  # type: ignore[list-item]
    todo = iter(enumerate(items))

    async def worker() -> None:
        # Workers share one iterator: in a single event loop thread `next` is atomic.
        for index, item in todo:
            results[index] = await fn(item)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(min(max_concurrency, len(items))):
                group.start_soon(worker)
    except BaseExceptionGroup as group_error:
        raise _first_leaf(group_error) from None
    return results


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
