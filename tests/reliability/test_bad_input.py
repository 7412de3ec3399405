"""Item 4, bad input: hostile keys never reach outside the store; bad arguments raise clear errors."""

from __future__ import annotations

import errno
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import example, given, settings

import persidict_async as aio
import persidict_sync as sync
from persidict_async import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    BackendError,
)

from ..adapters import Awaitified
from ..s3_server import s3_options
from .support import hostile_keys

pytestmark = pytest.mark.reliability


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


async def _try_key(store: Any, key: Any, inspect: Callable[[], Any]) -> bool:
    """Use ``key`` for a write, read, listing and delete; False if the store refused it clearly.

    ``inspect`` looks at the storage while the value is written.
    """
    try:
        await store.set_item(key, "v")
    except (ValueError, TypeError) as exc:
        assert str(exc), "a refusal must say why"
        return False
    except BackendError as exc:  # only the OS's limit on a whole path may refuse a valid key
        assert getattr(exc, "errno", None) == errno.ENAMETOOLONG, exc
        return False
    await inspect()
    assert await store.get_item(key) == "v"
    assert await store.contains(key)
    assert len([k async for k in store]) == 1
    await store.delete_item(key)
    return True


def _try_hostile_keys(
    api: str, store: Any, portal: BlockingPortal, inspect: Callable[[], Any],
    max_examples: int, inspect_after: bool = False,
) -> None:  # fmt: skip
    """Try generated hostile keys on ``store`` through ``api``; some must pass, some be refused.

    ``inspect`` looks at the storage while each value is written, and with
    ``inspect_after`` also once the key is deleted again.
    """
    wrapped = Awaitified(store) if api == "sync" else store
    accepted: list[bool] = []

    @settings(max_examples=max_examples, deadline=None, database=None)
    @given(key=hostile_keys)
    @example(key=("ok", "fine.txt")).via("a key the store must accept")
    @example(key=("..", "etc", "passwd")).via("a key the store must refuse")
    def check(key: Any) -> None:
        accepted.append(portal.call(_try_key, wrapped, key, inspect))
        if inspect_after:
            portal.call(inspect)

    check()
    assert any(accepted) and not all(accepted)  # both kinds of keys were tried


@pytest.mark.parametrize("api", ["async", "sync"])
@pytest.mark.parametrize("digest_len", [0, 4])
def test_hostile_keys_stay_inside_base_dir(
    api: str, digest_len: int, tmp_path: Path, portal: BlockingPortal
) -> None:
    base = tmp_path / "store"
    options = {"base_dir": base, "digest_len": digest_len, "durable": False}
    store = aio.FileDirDict(**options) if api == "async" else sync.FileDirDict(**options)

    async def inside() -> None:
        for path in tmp_path.rglob("*"):
            assert path.resolve().is_relative_to(base.resolve()), path
        assert [p.name for p in tmp_path.iterdir()] == ["store"]

    _try_hostile_keys(api, store, portal, inside, max_examples=120, inspect_after=True)


@pytest.mark.s3
@pytest.mark.usefixtures("s3_server")
@pytest.mark.parametrize("api", ["async", "sync"])
def test_hostile_keys_stay_inside_root_prefix(api: str, portal: BlockingPortal) -> None:
    bucket = f"hostile-{uuid.uuid4().hex[:12]}"  # a bucket of its own: every object is listed
    options = s3_options(bucket_name=bucket, root_prefix="inside/the/prefix")
    store = aio.BasicS3Dict(**options) if api == "async" else sync.BasicS3Dict(**options)
    lister = aio.BasicS3Dict(**s3_options(bucket_name=bucket, root_prefix=""))

    async def inside() -> None:
        client = await lister._hub.client()
        page = await client.list_objects_v2(Bucket=bucket)
        names = [o["Key"] for o in page.get("Contents", ())]
        assert len(names) == 1 and names[0].startswith("inside/the/prefix/"), names

    try:
        _try_hostile_keys(api, store, portal, inside, max_examples=60)
    finally:
        if api == "sync":
            store.close()  # type: ignore[union-attr]
        else:
            portal.call(store.aclose)  # type: ignore[union-attr]
        portal.call(lister.aclose)


def _files(**kw: Any) -> Callable[[], Any]:
    return lambda: aio.FileDirDict(**kw)


def _s3(**kw: Any) -> Callable[[], Any]:
    return lambda: aio.BasicS3Dict(**{"bucket_name": "b", **kw})


BAD_CONSTRUCTORS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("digest_len<0", _files(digest_len=-1), ValueError, "digest_len"),
    ("digest_len str", _files(digest_len="4"), TypeError, "digest_len"),
    ("digest_len bool", _files(digest_len=True), TypeError, "digest_len"),
    ("durable str", _files(durable="yes"), TypeError, "durable"),
    ("base_dir empty", _files(base_dir=""), TypeError, "base_dir"),
    ("base_dir int", _files(base_dir=3), TypeError, "int"),
    ("format empty", _files(serialization_format=""), ValueError, "serialization_format"),
    ("format path", _files(serialization_format="../pkl"), ValueError, "serialization_format"),
    ("format too long", _files(serialization_format="x" * 300), ValueError, "too long"),
    ("append_only str", _files(append_only="no"), TypeError, "append_only"),
    ("value class", _files(base_class_for_values=5), TypeError, "base_class_for_values"),
    ("text needs str", _files(serialization_format="txt"), ValueError, "str"),
    ("bucket empty", _s3(bucket_name=""), ValueError, "bucket_name"),
    ("bucket int", _s3(bucket_name=5), ValueError, "bucket_name"),
    ("root_prefix int", _s3(root_prefix=5), TypeError, "root_prefix"),
    ("pool 0", _s3(max_pool_connections=0), ValueError, "max_pool_connections"),
    ("attempts 0", _s3(max_attempts=0), ValueError, "max_attempts"),
    ("conditional str", _s3(conditional_writes="yes"), TypeError, "conditional_writes"),
    ("connect_timeout<=0", _s3(connect_timeout=0), ValueError, "connect_timeout"),
    ("read_timeout<0", _s3(read_timeout=-1), ValueError, "read_timeout"),
    ("read_timeout str", _s3(read_timeout="soon"), TypeError, "read_timeout"),
]


@pytest.mark.parametrize("make, error, words", [c[1:] for c in BAD_CONSTRUCTORS],
                         ids=[c[0] for c in BAD_CONSTRUCTORS])  # fmt: skip
def test_bad_constructor_arguments_raise_clear_errors(
    make: Callable[[], Any], error: type[Exception], words: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # a FileDirDict with the default base_dir writes here
    with pytest.raises(error, match=words):
        make()


# (operation, expected error): each passes a wrong flag or argument to a store.
BAD_CALLS: list[tuple[str, Callable[[Any], Any], type[Exception]]] = [
    ("condition is a retrieve flag", lambda s: s.set_item_if(
        "k", value=1, condition=ALWAYS_RETRIEVE, expected_etag=ITEM_NOT_AVAILABLE), TypeError),
    ("retrieve is a condition", lambda s: s.get_item_if(
        "k", condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE, retrieve_value=ANY_ETAG), TypeError),
    ("etag is an int", lambda s: s.set_item_if(
        "k", value=1, condition=ETAG_IS_THE_SAME, expected_etag=5), TypeError),
    ("condition is a str", lambda s: s.discard_if("k", condition="same", expected_etag="x"), TypeError),
    ("setdefault joker", lambda s: s.setdefault_if(
        "k", default_value=KEEP_CURRENT, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE), TypeError),
    ("n_retries < 0", lambda s: s.transform_item("k", transformer=lambda v: 1, n_retries=-1), ValueError),
    ("n_retries bool", lambda s: s.transform_item("k", transformer=lambda v: 1, n_retries=True), ValueError),
    ("transformer not callable", lambda s: s.transform_item("k", transformer=5), TypeError),
    ("max_concurrency 0", lambda s: s.get_many(["k"], max_concurrency=0), ValueError),
    ("set_many not pairs", lambda s: s.set_many([("a", 1, 2)]), TypeError),
]  # fmt: skip


@pytest.mark.parametrize("call, error", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
async def test_bad_flags_and_arguments_raise_clear_errors(
    store: Any, call: Callable[[Any], Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        await call(store)
    assert str(info.value)
    assert not await store.contains("k") and await store.len() == 0  # nothing was written
