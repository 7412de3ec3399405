"""WriteOnceDict over LocalDict and FileDirDict, through both APIs."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import (
    DELETE_CURRENT,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    MutationPolicyError,
)

from .wrapper_support import PLAIN, view


@pytest.fixture(params=sorted(PLAIN))
def plain(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    make = PLAIN[request.param]
    return lambda **kw: make(tmp_path, append_only=True, **kw)


def make_write_once(plain: Any, api: str, p: float = 0.0) -> tuple[Any, aio.PersiDict[Any]]:
    wrapped = plain()
    return view(aio.WriteOnceDict(wrapped_dict=wrapped, p_consistency_checks=p), api), wrapped


async def test_repeat_writes_are_ignored(plain: Any, api: str) -> None:
    store, wrapped = make_write_once(plain, api)
    await store.set_item("a", 1)
    etag = await store.etag("a")
    assert etag == await wrapped.etag("a")
    await store.set_item("a", 2)  # ignored, no check at p=0
    await store.set_many({"a": 3, "b": 4})
    await store.update({"a": 5})
    assert await store.get_item("a") == 1 and await store.get_item("b") == 4
    assert await store.etag("a") == etag
    assert store.consistency_checks_attempted == 0
    await store.set_item("a", KEEP_CURRENT)
    assert await store.len() == 2


async def test_consistency_checks(plain: Any, api: str) -> None:
    store, _ = make_write_once(plain, api, p=1.0)
    await store.set_item("a", {"x": [1, 2]})
    await store.set_item("a", {"x": [1, 2]})
    with pytest.raises(MutationPolicyError) as info:
        await store.set_item("a", {"x": [9]})
    assert info.value.policy == "write-once"
    assert await store.get_item("a") == {"x": [1, 2]}
    assert store.consistency_checks_attempted == 2
    assert store.consistency_checks_passed == 1
    assert store.consistency_checks_failed == 1


async def test_equal_values_with_different_encodings_pass(plain: Any, api: str) -> None:
    store, _ = make_write_once(plain, api, p=1.0)
    await store.set_item("a", {"x": 1, "y": 2})
    await store.set_item("a", {"y": 2, "x": 1})  # same dict, other key order, other bytes
    assert store.consistency_checks_passed == 1


def test_check_probability_is_sampled(tmp_path: Path) -> None:
    store = aio.WriteOnceDict(wrapped_dict=aio.LocalDict(append_only=True), p_consistency_checks=0.5)
    facade = sync.PersiDict.wrap(store)
    facade["a"] = 0
    for _ in range(200):
        facade["a"] = 0
    assert 40 < store.consistency_checks_attempted < 160
    store.p_consistency_checks = 0
    facade["a"] = 1  # unchecked: ignored
    with pytest.raises(ValueError):
        store.p_consistency_checks = 1.5


async def test_every_delete_path_raises(plain: Any, api: str) -> None:
    store, _ = make_write_once(plain, api)
    await store.set_item("a", 1)
    for call in (
        lambda: store.delete_item("a"), lambda: store.delete_item("absent"),
        lambda: store.discard("a"), lambda: store.pop("a"), lambda: store.popitem(),
        lambda: store.clear(), lambda: store.set_item("a", DELETE_CURRENT),
        lambda: store.delete_many(["a"]),
        lambda: store.discard_if("a", condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE),
        lambda: store.transform_item("a", transformer=lambda v: DELETE_CURRENT),
    ):  # fmt: skip
        with pytest.raises(MutationPolicyError) as info:
            await call()
        assert info.value.policy == "write-once"
    assert await store.get_item("a") == 1


async def test_first_write_is_atomic_insert(plain: Any, api: str) -> None:
    store, _ = make_write_once(plain, api)
    result = await store.setdefault_if("k", default_value=1, condition=ETAG_IS_THE_SAME,
                                       expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert result.value_was_mutated
    assert await store.setdefault("k", 2) == 1


async def test_params_rebuild_pickle_subdict(plain: Any, api: str) -> None:
    store, wrapped = make_write_once(plain, api, p=0.25)
    await store.set_item(("s", "a"), 1)
    params = store.get_params()
    assert params["p_consistency_checks"] == 0.25 and params["append_only"] is True
    assert params["wrapped_dict"] is wrapped
    again = aio.WriteOnceDict(**params)
    assert await again.get_item(("s", "a")) == 1
    obj = store.facade if api == "sync" else store
    clone = pickle.loads(pickle.dumps(obj))
    assert type(clone) is type(obj) and clone.get_params().keys() == params.keys()
    sub = store.get_subdict("s")
    assert await sub.get_item("a") == 1
    assert sub.p_consistency_checks == 0.25
    await sub.set_item("b", 2)
    assert await store.get_item(("s", "b")) == 2


def test_validation() -> None:
    with pytest.raises(ValueError):
        aio.WriteOnceDict(wrapped_dict=aio.LocalDict())
    with pytest.raises(ValueError):
        aio.WriteOnceDict(wrapped_dict=aio.LocalDict(append_only=True), p_consistency_checks=2)
    with pytest.raises(TypeError):
        aio.WriteOnceDict(wrapped_dict={})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        aio.WriteOnceDict(wrapped_dict=aio.LocalDict(append_only=True), serialization_format="json")
    with pytest.raises(ValueError):
        aio.WriteOnceDict(wrapped_dict=aio.LocalDict(append_only=True), append_only=False)
    facade = sync.WriteOnceDict(wrapped_dict=sync.LocalDict(append_only=True))
    assert isinstance(facade.aio, aio.WriteOnceDict) and facade._inline
    assert isinstance(facade.wrapped_dict, sync.LocalDict)


def test_default_wrapped_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = sync.WriteOnceDict()
    store["a"] = 1
    store["a"] = 2
    assert store["a"] == 1 and isinstance(store.wrapped_dict, sync.FileDirDict)
    assert store.wrapped_dict.append_only


def test_inline_flags(tmp_path: Path) -> None:
    over_memory = aio.WriteOnceDict(wrapped_dict=aio.LocalDict(append_only=True))
    assert over_memory.runs_inline and not over_memory.does_blocking_io
    over_files = aio.WriteOnceDict(wrapped_dict=aio.FileDirDict(base_dir=tmp_path, append_only=True))
    assert over_files.runs_inline and over_files.does_blocking_io
