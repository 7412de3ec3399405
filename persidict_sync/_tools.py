"""Sync entry points of ``open_store`` and ``copy_store``: thin drivers of the async ones."""

from __future__ import annotations

import os
from typing import Any

import persidict_async as core
from persidict_async.copying import CopyStats, ProgressCallback
from persidict_async.copying import copy_store as _copy_store
from persidict_async.urls import open_store as _open_store

from . import _driver
from ._facade import PersiDict

__all__ = ["copy_store", "open_store"]


def open_store(url: str | os.PathLike[str], **options: Any) -> PersiDict[Any]:
    """Open the store that ``url`` names, as a sync facade.

    See :func:`persidict_async.open_store` for the URL forms and options.
    """
    return PersiDict.wrap(_open_store(url, **options))


def _aio(store: PersiDict[Any] | core.PersiDict[Any]) -> core.PersiDict[Any]:
    return store.aio if isinstance(store, PersiDict) else store


def copy_store(
    src: PersiDict[Any] | core.PersiDict[Any],
    dst: PersiDict[Any] | core.PersiDict[Any],
    *,
    prefix: Any = None,
    jobs: int = 16,
    skip_unchanged: bool = False,
    progress: ProgressCallback | None = None,
) -> CopyStats:
    """Copy keys from ``src`` to ``dst`` (sync or async stores).

    See :func:`persidict_async.copy_store`; ``progress`` is called from the
    thread that runs the copy (the shared event loop thread for network stores).
    """
    a, b = _aio(src), _aio(dst)
    coro = _copy_store(a, b, prefix=prefix, jobs=jobs, skip_unchanged=skip_unchanged, progress=progress)
    return _driver.run(coro, a.runs_inline and b.runs_inline)
