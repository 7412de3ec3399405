"""The ``persidict demo`` tour: sync and async use, conditional operations, fan-out."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any, TextIO

import persidict_async as aio

from . import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, FileDirDict


def run(out: TextIO) -> int:
    """Print a short tour of the library on a temporary directory; return 0."""

    def say(*parts: object) -> None:
        print(*parts, file=out)

    with tempfile.TemporaryDirectory(prefix="persidict-demo-") as base_dir:
        say(f"== sync: a dict whose values are files under {base_dir} ==")
        d: FileDirDict[Any] = FileDirDict(base_dir=base_dir)
        d["greeting"] = "hello"
        d[("users", "ada")] = {"langs": ["python"]}
        say("keys:", sorted(d.keys()))
        say("d['greeting'] =", d["greeting"])
        files = sorted(
            os.path.relpath(os.path.join(path, name), base_dir)
            for path, dirs, names in os.walk(base_dir)
            if not dirs.sort() and ".#" not in path  # skip the hidden lock folders
            for name in names
        )
        say("files:", files)

        say("== conditional write: insert only if absent ==")
        first = d.setdefault_if("lock", default_value="me", condition=ETAG_IS_THE_SAME,
                                expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
        second = d.setdefault_if("lock", default_value="you", condition=ETAG_IS_THE_SAME,
                                 expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
        say("first claim won:", first.condition_was_satisfied,
            "| second claim won:", second.condition_was_satisfied)  # fmt: skip

        say("== atomic counter with transform_item ==")
        for _ in range(3):
            d.transform_item("counter", transformer=lambda v: 1 if v is ITEM_NOT_AVAILABLE else v + 1)
        say("counter =", d["counter"])

        say("== async: the same store, fan-out with set_many / get_many ==")

        async def fan_out() -> None:
            store: aio.FileDirDict[Any] = aio.FileDirDict(base_dir=base_dir)
            async with store:
                keys = [("fan", f"k{i}") for i in range(100)]
                await store.set_many(dict(zip(keys, range(100), strict=True)), max_concurrency=16)
                values = await store.get_many(keys, max_concurrency=16)
                say("sum of 100 values read concurrently:", sum(values))
                say("counter seen from async:", await store.get_item("counter"))

        asyncio.run(fan_out())
        say("keys now:", len(d))
    return 0
