"""MutableDictCached: revalidation, cache exactness, sharing a main store, through both APIs."""

from __future__ import annotations

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
    NEVER_RETRIEVE,
)

from .wrapper_support import PLAIN, CountingLocalDict, RemoteLikeDict, view


@pytest.fixture(params=sorted(PLAIN))
def caches(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory of cache stores (LocalDict or FileDirDict)."""
    make = PLAIN[request.param]
    counter = iter(range(1000))
    return lambda **kw: make(tmp_path / f"c{next(counter)}", **kw)


def cached(main: aio.PersiDict[Any], caches: Any) -> aio.MutableDictCached[Any]:
    return aio.MutableDictCached(main_dict=main, data_cache=caches(), etag_cache=caches())


async def cache_state(store: aio.MutableDictCached[Any], key: str) -> tuple[Any, Any]:
    """(etag-cache entry, data-cache value) of ``key``, None when absent."""
    return await store.etag_cache.get(key), await store.data_cache.get(key)


async def test_two_instances_never_read_stale_values(caches: Any, api: str) -> None:
    main = CountingLocalDict()
    a_aio, b_aio = cached(main, caches), cached(main, caches)
    a, b = view(a_aio, api), view(b_aio, api)
    await a.set_item("k", 1)
    assert await b.get_item("k") == 1
    await a.set_item("k", 2)
    assert await b.get_item("k") == 2
    await b.set_item("k", 3)
    assert await a.get_item("k") == 3
    assert await a.get_many(["k"]) == [3]
    assert dict([pair async for pair in a.items()]) == {("k",): 3}
    await b.delete_item("k")
    with pytest.raises(KeyError):
        await a.get_item("k")
    assert await cache_state(a_aio, "k") == (None, None)  # the stale copy was purged
    await a.set_item("k", 4)
    assert await b.get_item("k") == 4


async def test_hits_are_revalidated_without_transferring_data(caches: Any, api: str) -> None:
    main = CountingLocalDict()
    store = view(cached(main, caches), api)
    await store.set_item("k", {"v": 1})
    main.calls.clear()
    for _ in range(3):
        assert await store.get_item("k") == {"v": 1}
    # Every read asks main, and main never has to send the value again.
    assert main.calls == {"read_not_modified": 3}


async def test_a_failed_conditional_write_never_poisons_the_caches(caches: Any, api: str) -> None:
    store_aio = cached(aio.LocalDict(), caches)
    store = view(store_aio, api)
    await store.set_item("k", 1)
    etag = await store.etag("k")
    before = await cache_state(store_aio, "k")
    result = await store.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag="stale")
    assert not result.condition_was_satisfied
    result = await store.setdefault_if("k", default_value=2, condition=ANY_ETAG,
                                       expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert not result.value_was_mutated
    result = await store.discard_if("k", condition=ETAG_IS_THE_SAME, expected_etag="stale")
    assert not result.condition_was_satisfied
    assert await cache_state(store_aio, "k") == before
    assert await store.get_item("k") == 1 and await store.etag("k") == etag


async def test_conditional_operations_keep_the_caches_exact(caches: Any, api: str) -> None:
    main = aio.LocalDict()
    store_aio = cached(main, caches)
    store = view(store_aio, api)
    result = await store.setdefault_if("k", default_value=1, condition=ANY_ETAG,
                                       expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    etag_entry, value = await cache_state(store_aio, "k")
    assert value == 1 and etag_entry.startswith(result.resulting_etag + "\n")
    result = await store.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME,
                                     expected_etag=result.resulting_etag)  # fmt: skip
    assert result.condition_was_satisfied
    etag_entry, value = await cache_state(store_aio, "k")
    assert value == 2 and etag_entry.startswith(await main.etag("k") + "\n")
    await store.transform_item("k", transformer=lambda v: v + 1)
    assert await cache_state(store_aio, "k") == (
        f"{await main.etag('k')}\n{await store_aio.data_cache.etag('k')}", 3)
    result = await store.get_item_if("k", condition=ETAG_IS_THE_SAME, expected_etag=await main.etag("k"),
                                     retrieve_value=NEVER_RETRIEVE)  # fmt: skip
    assert result.condition_was_satisfied
    await store.set_item_if("k", value=DELETE_CURRENT, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert await cache_state(store_aio, "k") == (None, None)
    assert await store.pop("nope", None) is None


async def test_a_tampered_data_cache_is_a_miss(caches: Any, api: str) -> None:
    store_aio = cached(aio.LocalDict(), caches)
    store = view(store_aio, api)
    await store.set_item("k", "right")
    await store_aio.data_cache.set_item("k", "wrong")  # e.g. another writer of a shared cache
    assert await store.get_item("k") == "right"
    assert await store_aio.data_cache.get_item("k") == "right"  # refilled
    await store_aio.etag_cache.set_item("k", "garbage")  # a damaged entry is only a miss
    assert await store.get_item("k") == "right"


async def test_main_store_is_the_authority(caches: Any, api: str) -> None:
    main = aio.LocalDict()
    store = view(cached(main, caches), api)
    await main.set_item(("d", "x"), 1)  # written behind the wrapper's back
    assert await store.contains(("d", "x")) and await store.len() == 1
    assert await store.get_item(("d", "x")) == 1
    assert await store.etag(("d", "x")) == await main.etag(("d", "x"))
    assert await store.timestamp(("d", "x")) == await main.timestamp(("d", "x"))
    sub = store.get_subdict("d")
    await sub.set_item("y", 2)
    assert await main.get_item(("d", "y")) == 2
    assert sorted([k async for k in store]) == [("d", "x"), ("d", "y")]


def test_validation_and_flags(tmp_path: Path) -> None:
    def make(**kw: Any) -> aio.MutableDictCached[Any]:
        stores = {"main_dict": aio.LocalDict(), "data_cache": aio.LocalDict(),
                  "etag_cache": aio.LocalDict(), **kw}  # fmt: skip
        return aio.MutableDictCached(**stores)

    with pytest.raises(ValueError):
        make(data_cache=aio.LocalDict(append_only=True))
    with pytest.raises(ValueError):
        make(data_cache=aio.LocalDict(serialization_format="json"))
    with pytest.raises(ValueError):
        make(etag_cache=aio.LocalDict(base_class_for_values=dict))
    with pytest.raises(TypeError):
        make(main_dict={})
    shared = aio.LocalDict()
    with pytest.raises(ValueError):
        make(data_cache=shared, etag_cache=shared)
    with pytest.raises(ValueError):
        make(main_dict=aio.LocalDict(base_class_for_values=dict), base_class_for_values=list)
    assert make(main_dict=aio.LocalDict(append_only=True)).append_only
    assert make().runs_inline and not make().does_blocking_io
    files = aio.FileDirDict(base_dir=tmp_path)
    assert make(data_cache=files).does_blocking_io
    assert not make(main_dict=RemoteLikeDict()).runs_inline
    facade = sync.MutableDictCached(main_dict=sync.LocalDict(), data_cache=sync.LocalDict(),
                                    etag_cache=sync.LocalDict())  # fmt: skip
    assert isinstance(facade.aio.main_dict, aio.LocalDict)
    assert isinstance(facade.main_dict, sync.LocalDict)
    facade["a"] = 1
    assert facade["a"] == 1 and facade.get_params()["main_dict"] is facade.aio.main_dict


async def test_aclose_closes_every_store() -> None:
    parts = [CountingLocalDict() for _ in range(3)]
    store = aio.MutableDictCached(main_dict=parts[0], data_cache=parts[1], etag_cache=parts[2])
    async with store:
        pass
    assert [p.calls["aclose"] for p in parts] == [1, 1, 1]
