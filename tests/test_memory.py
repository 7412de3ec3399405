"""Memory stores: EmptyDict and LocalDict specifics, through both APIs."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import ANY_ETAG, ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE

from .adapters import Awaitified


@pytest.fixture(params=["async", "sync"])
def empty(request: pytest.FixtureRequest) -> Any:
    return aio.EmptyDict() if request.param == "async" else Awaitified(sync.EmptyDict())


async def test_empty_dict_keeps_nothing(empty: Any) -> None:
    await empty.set_item("a", 1)
    assert not await empty.contains("a")
    assert await empty.len() == 0 and await empty.is_empty()
    with pytest.raises(KeyError):
        await empty.get_item("a")
    with pytest.raises(KeyError):
        await empty.delete_item("a")
    assert [k async for k in empty.keys()] == []  # noqa: SIM118 - keys() is under test
    assert await empty.random_key() is None
    assert await empty.get_many(["a"], default=0) == [0]
    claim = await empty.setdefault_if("a", default_value=1, condition=ETAG_IS_THE_SAME,
                                      expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert claim.condition_was_satisfied  # accepted, then forgotten
    got = await empty.get_item_if("a", condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
    assert got.new_value is ITEM_NOT_AVAILABLE
    assert await empty.subdicts() == {}
    assert await empty.get_subdict("x").len() == 0


def test_local_dicts_share_a_backend() -> None:
    backend = aio.MemoryBackend()
    a = sync.LocalDict(backend=backend)
    b = sync.LocalDict(backend=backend)
    j = sync.LocalDict(backend=backend, serialization_format="json")
    a["k"] = 1
    assert b["k"] == 1 and "k" not in j  # formats are kept apart
    sub = sync.LocalDict(backend=backend, root_prefix="p")
    sub["x"] = 2
    assert a[("p", "x")] == 2
    with pytest.raises(TypeError):
        sync.LocalDict(backend={})


def test_pickled_local_dict_carries_a_copy() -> None:
    d = sync.LocalDict()
    d["k"] = [1]
    clone = pickle.loads(pickle.dumps(d))
    assert clone["k"] == [1]
    clone["k"] = [2]
    assert d["k"] == [1]
