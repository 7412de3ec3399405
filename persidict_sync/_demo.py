"""The ``persidict demo`` tour: sync and async use, conditional operations, fan-out."""

from __future__ import annotations

import asyncio
from typing import TextIO

import persidict_async as aio

from . import ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, LocalDict


def run(out: TextIO) -> int:
    """Print a short tour of the library; return 0."""

    def say(*parts: object) -> None:
        print(*parts, file=out)

    say("== sync: a dict that persists ==")
    d: LocalDict[object] = LocalDict()
    d["greeting"] = "hello"
    d[("users", "ada")] = {"langs": ["python"]}
    say("keys:", sorted(d.keys()))
    say("d['greeting'] =", d["greeting"])

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

    say("== async: fan-out with get_many / set_many ==")

    async def fan_out() -> None:
        store: aio.LocalDict[int] = aio.LocalDict()
        await store.set_many({f"k{i}": i for i in range(100)}, max_concurrency=16)
        values = await store.get_many([f"k{i}" for i in range(100)], max_concurrency=16)
        say("sum of 100 values read concurrently:", sum(values))

    asyncio.run(fan_out())
    return 0
