"""Helpers of the wrapper tests: plain stores to wrap, call counting, both-API views."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import persidict_async as aio
import persidict_sync as sync
from persidict_async.base import Expect, Record
from persidict_async.keys import NonEmptySafeStrTuple

from .adapters import Awaitified


def view(store: aio.PersiDict[Any], api: str) -> Any:
    """The store through the API under test (async as is, sync through Awaitified)."""
    return store if api == "async" else Awaitified(sync.PersiDict.wrap(store))


def local(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
    """A LocalDict (``tmp_path`` unused)."""
    return aio.LocalDict(**options)


def files(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
    """A FileDirDict under ``tmp_path``."""
    options.setdefault("durable", False)
    return aio.FileDirDict(base_dir=tmp_path, **options)


PLAIN: dict[str, Callable[..., aio.PersiDict[Any]]] = {"local": local, "files": files}


class CountingLocalDict(aio.LocalDict[Any]):
    """A LocalDict that counts calls of its primitives (shared counter across subdicts)."""

    calls: Counter[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = Counter()

    # LocalDict's async _read calls _read_now, so both APIs' reads are counted here
    # (and the sync facade keeps reading directly, as it does for a plain LocalDict).
    def _read_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        record = super()._read_now(key, if_none_match)
        self.calls["read" if record is None or record.data is not None else "read_not_modified"] += 1
        return record

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        self.calls["stat"] += 1
        return await super()._stat(key)

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        self.calls["write"] += 1
        return await super()._write(key, data, expect)

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        self.calls["delete"] += 1
        return await super()._delete(key, expect)

    async def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        self.calls["scan"] += 1
        async for item in super()._scan(with_meta):
            yield item

    async def _count(self) -> int:
        self.calls["count"] += 1
        return await super()._count()

    async def aclose(self) -> None:
        self.calls["aclose"] += 1


class RemoteLikeDict(aio.LocalDict[Any]):
    """A LocalDict that says it needs the event loop, as a network store does."""

    @property
    def runs_inline(self) -> bool:
        return False
