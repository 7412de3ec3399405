"""OverlappingMultiDict: several formats over one location, async and sync."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync


def shared_params(kind: str, tmp_path: Path) -> tuple[type[Any], dict[str, Any]]:
    if kind == "local":
        return aio.LocalDict, {"backend": aio.MemoryBackend()}
    return aio.FileDirDict, {"base_dir": tmp_path / "multi"}


FORMATS = {"pkl": {}, "json": {}, "txt": {"base_class_for_values": str}}


@pytest.mark.parametrize("kind", ["local", "files"])
async def test_formats_share_a_location_not_keys(kind: str, tmp_path: Path) -> None:
    dict_type, shared = shared_params(kind, tmp_path)
    multi = aio.OverlappingMultiDict(dict_type=dict_type, shared_subdicts_params=shared, **FORMATS)
    assert multi.subdicts_names == ["pkl", "json", "txt"]
    assert isinstance(multi.json, dict_type) and multi.json.serialization_format == "json"
    await multi.pkl.set_item("k", (1, 2))
    await multi.json.set_item("k", [1, 2])
    await multi.txt.set_item("k", "one two")
    assert await multi.pkl.get_item("k") == (1, 2)
    assert await multi.json.get_item("k") == [1, 2]
    assert await multi.txt.get_item("k") == "one two"
    await multi.json.clear()
    assert await multi.json.len() == 0
    assert await multi.pkl.get_item("k") == (1, 2) and await multi.txt.len() == 1
    again = aio.OverlappingMultiDict(**multi.get_params())
    assert await again.txt.get_item("k") == "one two"
    async with multi:
        pass


def test_sync_version(tmp_path: Path) -> None:
    multi = sync.OverlappingMultiDict(
        dict_type=sync.FileDirDict, shared_subdicts_params={"base_dir": tmp_path}, **FORMATS
    )
    assert isinstance(multi.pkl, sync.FileDirDict) and isinstance(multi.aio, aio.OverlappingMultiDict)
    multi.pkl["a", "b"] = {1}
    multi.json["a", "b"] = {"x": 1}
    multi.txt["a", "b"] = "text"
    multi.pkl.clear()
    assert len(multi.pkl) == 0 and multi.json["a", "b"] == {"x": 1} and multi.txt["a", "b"] == "text"
    clone = pickle.loads(pickle.dumps(multi))
    assert clone.json["a", "b"] == {"x": 1}
    with multi:
        pass
    local = sync.OverlappingMultiDict(dict_type=aio.LocalDict,
                                      shared_subdicts_params={"backend": aio.MemoryBackend()},
                                      json={}, pkl={})  # fmt: skip
    local.json["k"] = 1
    assert "k" not in local.pkl and isinstance(local.json, sync.LocalDict)
    assert repr(local).startswith("OverlappingMultiDict(dict_type=")


@pytest.mark.parametrize("cls", [aio.OverlappingMultiDict, sync.OverlappingMultiDict])
def test_it_is_not_a_dict(cls: Any) -> None:
    multi = cls(dict_type=aio.LocalDict, shared_subdicts_params={}, pkl={})
    with pytest.raises(TypeError):
        multi["k"]
    with pytest.raises(TypeError):
        multi["k"] = 1
    with pytest.raises(TypeError):
        del multi["k"]
    with pytest.raises(AttributeError):
        _ = multi.json


def test_validation() -> None:
    with pytest.raises(TypeError):
        aio.OverlappingMultiDict(dict_type=dict, shared_subdicts_params={}, pkl={})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        aio.OverlappingMultiDict(dict_type=aio.LocalDict, shared_subdicts_params=[], pkl={})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        aio.OverlappingMultiDict(dict_type=aio.LocalDict, shared_subdicts_params={}, pkl=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        aio.OverlappingMultiDict(dict_type=aio.LocalDict, shared_subdicts_params={})
    with pytest.raises(ValueError):
        aio.OverlappingMultiDict(dict_type=aio.LocalDict, shared_subdicts_params={},
                                 get_params={})  # fmt: skip
