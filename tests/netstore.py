"""A test store that behaves like a network store: it must run on the portal."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import anyio

import persidict_async as aio
import persidict_sync as sync
from persidict_async._lifecycle import register_open
from persidict_async.base import Record
from persidict_async.keys import NonEmptySafeStrTuple


class NetDict(aio.LocalDict[Any]):
    """A LocalDict whose reads await the event loop, like a network client would."""

    threads: ClassVar[set[str]] = set()
    closed: ClassVar[int] = 0

    @property
    def runs_inline(self) -> bool:
        return False

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        register_open(self)
        NetDict.threads.add(threading.current_thread().name)
        await anyio.sleep(0)
        if key[-1].startswith("slow"):
            await anyio.sleep(30)
        return await super()._read(key, if_none_match)

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        # Every read goes through _read (the base's default), which the tests watch.
        return await aio.PersiDict._read_data(self, key)

    async def aclose(self) -> None:
        NetDict.closed += 1
        print("closed", flush=True)


class SyncNetDict(sync.PersiDict[Any]):
    _async_class = NetDict
