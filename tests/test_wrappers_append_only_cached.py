"""AppendOnlyDictCached: hits cost no main-store call, misses fill, mutations refused."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import (
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    MutationPolicyError,
)

from .wrapper_support import PLAIN, CountingLocalDict, view


@pytest.fixture(params=sorted(PLAIN))
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> aio.PersiDict[Any]:
    return PLAIN[request.param](tmp_path / "cache")


def make(main: aio.PersiDict[Any], cache: aio.PersiDict[Any], api: str) -> Any:
    return view(aio.AppendOnlyDictCached(main_dict=main, data_cache=cache), api)


async def test_a_hit_makes_no_call_to_the_main_store(cache: aio.PersiDict[Any], api: str) -> None:
    main = CountingLocalDict(append_only=True)
    store = make(main, cache, api)
    await store.set_item("a", {"v": 1})
    await store.set_item(("b", "c"), [2])
    main.calls.clear()
    for _ in range(3):
        assert await store.get_item("a") == {"v": 1}
        assert await store.get_many(["a", ("b", "c")]) == [{"v": 1}, [2]]
        assert await store.get("a") == {"v": 1}
        assert await store.contains(("b", "c"))
    assert sum(main.calls.values()) == 0


async def test_misses_fill_the_cache(cache: aio.PersiDict[Any], api: str) -> None:
    main = CountingLocalDict(append_only=True)
    await main.set_item("a", 1)  # written by someone else
    store = make(main, cache, api)
    assert not await cache.contains("a")
    assert await store.get_item("a") == 1
    assert await cache.get_item("a") == 1
    main.calls.clear()
    assert await store.get_item("a") == 1
    assert sum(main.calls.values()) == 0
    with pytest.raises(KeyError):
        await store.get_item("absent")
    assert await store.get("absent", "d") == "d"
    values = dict([pair async for pair in store.items()])
    assert values == {("a",): 1}


async def test_etags_and_conditions_are_the_main_stores(cache: aio.PersiDict[Any], api: str) -> None:
    main = aio.LocalDict(append_only=True)
    store = make(main, cache, api)
    await store.set_item("a", 1)
    await store.get_item("a")  # cached now
    etag = await store.etag("a")
    assert etag == await main.etag("a")
    result = await store.get_item_if("a", condition=ETAG_IS_THE_SAME, expected_etag=etag)
    assert result.condition_was_satisfied and result.actual_etag == etag
    result = await store.setdefault_if("b", default_value=2, condition=ANY_ETAG,
                                       expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert result.value_was_mutated and await cache.get_item("b") == 2
    assert await store.timestamp("a") == await main.timestamp("a")


async def test_every_mutation_but_first_writes_raises(cache: aio.PersiDict[Any], api: str) -> None:
    main = aio.LocalDict(append_only=True)
    store = make(main, cache, api)
    await store.set_item("a", 1)
    etag = await store.etag("a")
    for call in (
        lambda: store.set_item("a", 2), lambda: store.update({"a": 2}),
        lambda: store.set_item_if("a", value=2, condition=ETAG_IS_THE_SAME, expected_etag=etag),
        lambda: store.transform_item("a", transformer=lambda v: v + 1),
        lambda: store.delete_item("a"), lambda: store.delete_item("absent"),
        lambda: store.discard("a"), lambda: store.pop("a"), lambda: store.popitem(),
        lambda: store.clear(), lambda: store.set_item("a", DELETE_CURRENT),
        lambda: store.delete_many(["a"]),
        lambda: store.discard_if("a", condition=ANY_ETAG, expected_etag=etag),
    ):  # fmt: skip
        with pytest.raises(MutationPolicyError):
            await call()
    assert await store.get_item("a") == 1 and await main.get_item("a") == 1
    assert await cache.get_item("a") == 1


async def test_params_pickle_subdict(cache: aio.PersiDict[Any], api: str) -> None:
    main = aio.LocalDict(append_only=True)
    store = make(main, cache, api)
    await store.set_item(("s", "x"), 1)
    params = store.get_params()
    assert params["main_dict"] is main and params["data_cache"] is cache
    assert params["append_only"] is True
    assert await aio.AppendOnlyDictCached(**params).get_item(("s", "x")) == 1
    obj = store.facade if api == "sync" else store
    assert type(pickle.loads(pickle.dumps(obj))) is type(obj)
    sub = store.get_subdict("s")
    assert await sub.get_item("x") == 1
    await sub.set_item("y", 2)
    assert await main.get_item(("s", "y")) == 2


def test_validation() -> None:
    with pytest.raises(ValueError):
        aio.AppendOnlyDictCached(main_dict=aio.LocalDict(), data_cache=aio.LocalDict())
    with pytest.raises(ValueError):
        aio.AppendOnlyDictCached(main_dict=aio.LocalDict(append_only=True),
                                 data_cache=aio.LocalDict(serialization_format="json"))  # fmt: skip
    with pytest.raises(TypeError):
        aio.AppendOnlyDictCached(main_dict=aio.LocalDict(append_only=True), data_cache=None)  # type: ignore[arg-type]
    facade = sync.AppendOnlyDictCached(main_dict=sync.LocalDict(append_only=True),
                                       data_cache=sync.LocalDict())  # fmt: skip
    facade["a"] = 1
    assert facade["a"] == 1 and facade._inline
    with pytest.raises(MutationPolicyError):
        facade["a"] = 2
