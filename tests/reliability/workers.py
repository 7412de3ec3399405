"""Worker processes of the reliability suite (importable by 'spawn' children: light imports).

A load worker runs two threads, each doing random operations on one store for a
bounded time, and reports through a queue what it did: the increments of each
counter key that succeeded, how many operations ran, and every exception that
escaped an operation (there must be none).
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections import Counter
from typing import Any

import anyio

import persidict_async as aio
import persidict_sync as sync

from ..adapters import Awaitified
from .support import bump, check_value, make_value

STORES: dict[str, tuple[type[aio.PersiDict[Any]], type[sync.PersiDict[Any]]]] = {
    "files": (aio.FileDirDict, sync.FileDirDict),
    "s3": (aio.BasicS3Dict, sync.BasicS3Dict),
}


async def _random_ops(
    store: Any, counters: list[str], others: list[str], deadline: float, rng: random.Random,
    incs: Counter[str],
) -> int:  # fmt: skip
    """Random get/set/delete/transform_item/listing until ``deadline``; the number of operations."""
    everything = set(counters) | set(others)
    ops = 0
    while time.monotonic() < deadline:
        ops += 1
        roll = rng.random()
        if roll < 0.35:
            key = rng.choice(counters)
            await store.transform_item(key, transformer=bump(key), n_retries=None)
            incs[key] += 1  # only counted once the store acknowledged it
        elif roll < 0.65:
            key = rng.choice(counters + others)
            try:
                check_value(key, await store.get_item(key))
            except KeyError:
                pass
        elif roll < 0.88:
            key = rng.choice(others)
            await store.set_item(key, make_value(key, rng.randrange(1000), rng.randrange(16, 8192)))
        elif roll < 0.98:
            await store.discard(rng.choice(others))  # never a counter: they stay checkable
        else:
            listed = {k[0] async for k in store}
            assert listed <= everything, f"unknown keys listed: {listed - everything}"
    return ops


def _thread_body(
    kind: str, params: dict[str, Any], use_async: bool, counters: list[str], others: list[str],
    deadline: float, seed: int, report: dict[str, Any],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    incs: Counter[str] = Counter()
    report["incs"] = incs
    report["ops"] = 0

    async def main() -> None:
        aio_cls, sync_cls = STORES[kind]
        store: Any = aio_cls(**params) if use_async else Awaitified(sync_cls(**params))
        try:
            report["ops"] = await _random_ops(store, counters, others, deadline, rng, incs)
        finally:
            await store.aclose()

    try:
        anyio.run(main)
    except BaseException:  # an exception that leaked out of an operation
        report["errors"].append(traceback.format_exc(limit=8))


def load_worker(
    kind: str, params: dict[str, Any], use_async: bool, counters: list[str], others: list[str],
    seconds: float, barrier: Any, results: Any,
) -> None:  # fmt: skip
    """Two threads of random operations for ``seconds``; puts one report on ``results``."""
    reports: list[dict[str, Any]] = [{"errors": []} for _ in range(2)]
    barrier.wait(60)
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_thread_body, args=(kind, params, use_async, counters, others,
                                                    deadline, os.getpid() * 10 + i, reports[i]))
        for i in range(2)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    incs: Counter[str] = Counter()
    for r in reports:
        incs.update(r.get("incs", {}))
    results.put({
        "incs": dict(incs),
        "ops": sum(r.get("ops", 0) for r in reports),
        "errors": [e for r in reports for e in r["errors"]],
    })  # fmt: skip


def crash_writer(base_dir: str, n_threads: int, keys_per_thread: int, size: int) -> None:
    """Rewrite keys round-robin in several threads until killed; print each acknowledged write.

    Each line on stdout is ``thread index generation`` and is written with one
    ``os.write`` after ``set_item`` returned, so a line means the write is done.
    """
    store = sync.FileDirDict(base_dir=base_dir, durable=True)

    def work(t: int) -> None:
        gen = 0
        while True:
            gen += 1
            for i in range(keys_per_thread):
                key = f"t{t}-k{i}"
                store[key] = make_value(key, gen, size)
                os.write(1, f"{t} {i} {gen}\n".encode())

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
