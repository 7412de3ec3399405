"""Wrappers over the S3 backend: they run on the portal, and caches save requests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio

from .wrapper_support import view

pytestmark = pytest.mark.skipif(
    not hasattr(aio, "BasicS3Dict"), reason="the S3 backend is not available"
)


def s3_store(request: pytest.FixtureRequest, **options: Any) -> aio.PersiDict[Any]:
    request.getfixturevalue("s3_server")
    from .s3_server import s3_options

    store: aio.PersiDict[Any] = aio.BasicS3Dict(**s3_options(**options))  # type: ignore[attr-defined]
    return store


def count_primitives(store: aio.PersiDict[Any]) -> Counter[str]:
    """Count calls of the store's primitives (each costs at least one S3 request)."""
    calls: Counter[str] = Counter()
    for name in ("_read", "_stat", "_write", "_delete", "_count"):
        original = getattr(store, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        setattr(store, name, counted)
    scan = store._scan

    def counted_scan(with_meta: bool) -> Any:
        calls["_scan"] += 1
        return scan(with_meta)

    store._scan = counted_scan  # type: ignore[method-assign]
    return calls


def files(tmp_path: Path, name: str) -> aio.PersiDict[Any]:
    return aio.FileDirDict(base_dir=tmp_path / name, durable=False)


async def test_mutable_cached_over_s3(request: pytest.FixtureRequest, api: str, tmp_path: Path) -> None:
    main = s3_store(request)
    a_aio = aio.MutableDictCached(main_dict=main, data_cache=files(tmp_path, "ad"),
                                  etag_cache=files(tmp_path, "ae"))  # fmt: skip
    b_aio = aio.MutableDictCached(main_dict=main, data_cache=files(tmp_path, "bd"),
                                  etag_cache=files(tmp_path, "be"))  # fmt: skip
    assert not a_aio.runs_inline and a_aio.does_blocking_io
    a, b = view(a_aio, api), view(b_aio, api)
    await a.set_item("k", {"v": 1})
    assert await b.get_item("k") == {"v": 1}
    await a.set_item("k", {"v": 2})
    assert await b.get_item("k") == {"v": 2}
    calls = count_primitives(main)
    assert await b.get_item("k") == {"v": 2}
    assert calls == {"_read": 1}  # one conditional GET, answered 304
    await a.delete_item("k")
    assert await b.get("k") is None
    await a.aclose()


async def test_append_only_cached_hit_makes_no_s3_request(
    request: pytest.FixtureRequest, api: str, tmp_path: Path
) -> None:
    main = s3_store(request, append_only=True)
    store_aio = aio.AppendOnlyDictCached(main_dict=main, data_cache=files(tmp_path, "c"))
    assert not store_aio.runs_inline
    store = view(store_aio, api)
    await store.set_item("a", [1])
    other = view(aio.AppendOnlyDictCached(main_dict=main, data_cache=files(tmp_path, "d")), api)
    assert await other.get_item("a") == [1]  # a miss: fills the second cache
    calls = count_primitives(main)
    for _ in range(3):
        assert await store.get_item("a") == [1]
        assert await other.get_item("a") == [1]
        assert await store.contains("a")
    assert sum(calls.values()) == 0
    await store_aio.aclose()
