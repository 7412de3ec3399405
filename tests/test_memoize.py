"""memoize: cached results, argument normalisation, compute-once under concurrency, claims."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import memoize

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["local", "files", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[aio.PersiDict[Any]]:
    """An empty async store of each kind (sync functions get its facade)."""
    made: aio.PersiDict[Any]
    if request.param == "local":
        made = aio.LocalDict()
    elif request.param == "files":
        made = aio.FileDirDict(base_dir=tmp_path / "memo", durable=False)
    else:
        request.getfixturevalue("s3_server")
        from .s3_server import s3_options

        made = aio.BasicS3Dict(**s3_options())
    yield made
    await made.aclose()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Whether the memoized function is a sync or an async function."""
    return str(request.param)


def memoized(store: aio.PersiDict[Any], kind: str, calls: Counter[Any], **options: Any) -> Any:
    """add(a, b=2) memoized in ``store``, as an awaitable either way; counts computations."""
    if kind == "sync":
        # A sync function is given the facade, an async one the async store.
        @memoize(sync.PersiDict.wrap(store), name="add", **options)
        def add(a: int, b: int = 2, *rest: int, **extra: int) -> int:
            calls[(a, b, rest, tuple(sorted(extra.items())))] += 1
            return a + b + sum(rest) + sum(extra.values())

        async def call(*args: Any, **kwargs: Any) -> Any:
            return add(*args, **kwargs)

        call.cache_key = add.cache_key  # type: ignore[attr-defined]
        return call

    @memoize(store, name="add", **options)
    async def add_async(a: int, b: int = 2, *rest: int, **extra: int) -> int:
        calls[(a, b, rest, tuple(sorted(extra.items())))] += 1
        await asyncio.sleep(0)
        return a + b + sum(rest) + sum(extra.values())

    return add_async


async def test_results_are_cached(store: aio.PersiDict[Any], kind: str) -> None:
    calls: Counter[Any] = Counter()
    add = memoized(store, kind, calls)
    assert await add(1, 5) == 6 and await add(1, 5) == 6
    assert await add(2, 5) == 7
    assert sum(calls.values()) == 2
    key = add.cache_key(1, 5)
    assert key[0] == "add" and await store.get_item(key) == 6
    assert [k async for k in store] != []  # results live in the store
    assert len([k async for k in store if "claims~" in k]) == 0  # claims released
    # A second decoration (another process, say) finds the stored results.
    again = memoized(store, kind, calls)
    assert await again(1, 5) == 6 and sum(calls.values()) == 2


async def test_arguments_are_normalised(store: aio.PersiDict[Any], kind: str) -> None:
    calls: Counter[Any] = Counter()
    add = memoized(store, kind, calls)
    assert await add(1, 2) == 3
    assert await add(1, b=2) == 3 and await add(1) == 3 and await add(b=2, a=1) == 3
    assert sum(calls.values()) == 1
    assert await add(1, 2, 3) == 6 and await add(1, 2, x=3) == 6 and await add(1, 2, y=3) == 6
    assert sum(calls.values()) == 4  # *args and **kwargs are part of the key
    assert add.cache_key(1, 2, x=3, y=4) == add.cache_key(1, 2, y=4, x=3)


def test_digests_are_stable_and_typed(tmp_path: Path) -> None:
    @memoize(sync.LocalDict(), name="f")
    def f(x: Any) -> Any:
        return x

    class Color(enum.Enum):
        RED = 1

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    assert f.cache_key(1) != f.cache_key(True) != f.cache_key(1.0)
    assert f.cache_key((1, 2)) != f.cache_key([1, 2])
    assert f.cache_key({"a": 1, "b": 2}) == f.cache_key({"b": 2, "a": 1})
    assert f.cache_key(Color.RED) != f.cache_key(1)
    assert f.cache_key(Point(1, 2)) == f.cache_key(Point(1, 2)) != f.cache_key(Point(2, 1))
    with pytest.raises(TypeError):
        f(object())
    # The digest of a set of strings must not follow the process's hash seed.
    code = (
        "import persidict_sync as s\n"
        "f = s.memoize(s.LocalDict(), name='f')(lambda x: x)\n"
        "print(f.cache_key({'alpha', 'beta', 'gamma', ('t', 1), frozenset({'z', 'y'})})[1])\n"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)  # fmt: skip
        digests.add(out.stdout.strip())
    here = f.cache_key({"alpha", "beta", "gamma", ("t", 1), frozenset({"z", "y"})})[1]
    assert digests == {here}


def test_ignore_leaves_parameters_out_of_the_key() -> None:
    calls: list[Any] = []

    class Model:
        @memoize(sync.LocalDict(), ignore=("self",))
        def score(self, x: int) -> int:
            calls.append(x)
            return x * 10

    assert Model().score(2) == 20 and Model().score(2) == 20 and calls == [2]
    with pytest.raises(ValueError):
        memoize(sync.LocalDict(), ignore=("nope",))(lambda x: x)


async def test_exceptions_are_not_cached(store: aio.PersiDict[Any], kind: str) -> None:
    attempts: list[int] = []

    def body(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return x + 1

    if kind == "sync":
        f: Any = memoize(sync.PersiDict.wrap(store))(body)

        async def call(x: int) -> int:
            result: int = f(x)
            return result
    else:

        @memoize(store, name="body")
        async def call(x: int) -> int:
            return body(x)

    with pytest.raises(RuntimeError):
        await call(1)
    assert [k async for k in store] == []  # no result and no claim left behind
    assert await call(1) == 2 and await call(1) == 2
    assert attempts == [1, 1]


async def test_a_stale_claim_is_taken_over(store: aio.PersiDict[Any], kind: str) -> None:
    calls: Counter[Any] = Counter()
    add = memoized(store, kind, calls, stale_after=60.0, timeout=5.0)
    name, digest = add.cache_key(1, 2)
    # A claim left by a caller that crashed two minutes ago.
    await store.set_item((name, "claims~", digest), f"deadbeef {time.time() - 120:.6f}")
    assert await add(1, 2) == 3
    assert sum(calls.values()) == 1
    assert not await store.contains((name, "claims~", digest))


async def test_a_live_claim_makes_callers_wait_until_the_timeout(
    store: aio.PersiDict[Any], kind: str
) -> None:
    calls: Counter[Any] = Counter()
    add = memoized(store, kind, calls, timeout=0.2)
    name, digest = add.cache_key(1, 2)
    await store.set_item((name, "claims~", digest), f"other {time.time():.6f}")  # computing now
    with pytest.raises(TimeoutError):
        await add(1, 2)
    assert sum(calls.values()) == 0
    await store.set_item(add.cache_key(1, 2), 3)  # the other caller's result arrives
    assert await add(1, 2) == 3 and sum(calls.values()) == 0


def test_threads_compute_once(store: aio.PersiDict[Any]) -> None:
    calls: list[int] = []
    start = threading.Barrier(6)

    @memoize(sync.PersiDict.wrap(store), name="slow")
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)  # long enough for every other thread to find the claim
        return x * 2

    results: list[int] = []

    def call() -> None:
        start.wait()
        results.append(slow(21))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 6 and calls == [21]


async def test_tasks_compute_once(store: aio.PersiDict[Any]) -> None:
    calls: list[int] = []

    @memoize(store, name="slow_async")
    async def slow(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.2)
        return x * 2

    results = await asyncio.gather(*(slow(21) for _ in range(6)))
    assert results == [42] * 6 and calls == [21]


def _process_caller(base_dir: str, barrier: Any) -> None:
    memo = sync.FileDirDict(base_dir=base_dir, durable=False)
    counter = sync.FileDirDict(base_dir=base_dir + "-counter", durable=False)

    @memoize(memo, name="shared")
    def shared(x: int) -> int:
        counter.transform_item("n", transformer=lambda n: 1 if n is aio.ITEM_NOT_AVAILABLE else n + 1)
        time.sleep(0.3)
        return x + 1

    barrier.wait()
    assert shared(1) == 2


def test_processes_compute_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    base = str(tmp_path / "memo")
    procs = [ctx.Process(target=_process_caller, args=(base, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert sync.FileDirDict(base_dir=base + "-counter")["n"] == 1


def test_bad_options() -> None:
    with pytest.raises(TypeError):
        memoize({})
    with pytest.raises(ValueError):
        memoize(sync.LocalDict(append_only=True))
    with pytest.raises(ValueError):
        memoize(sync.LocalDict(), stale_after=0)
    with pytest.raises(ValueError):
        memoize(sync.LocalDict(), timeout=-1)
    with pytest.raises(ValueError):
        memoize(sync.LocalDict(), name="")
    assert sync.memoize is aio.memoize
