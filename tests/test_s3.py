"""S3-specific behaviour against a real server: processes, pickling, errors, lazy import."""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import ANY_ETAG, ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, BackendError

from .s3_server import S3Server, ServerProcess, free_port, s3_options

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("s3_server")]


def _increment(value: Any) -> Any:
    return 1 if value is ITEM_NOT_AVAILABLE else value + 1


def _count_up(params: dict[str, Any], n: int) -> None:
    store = sync.BasicS3Dict(**params)
    for _ in range(n):
        store.transform_item("counter", transformer=_increment, n_retries=None)


def _read_one(store: sync.PersiDict[Any], key: str) -> Any:
    return store[key]


def test_transform_item_from_four_processes(own_s3_server: ServerProcess) -> None:
    # SeaweedFS: moto checks If-Match and then writes without a lock, so two
    # concurrent conditional writes of one object can both succeed there.
    store = sync.BasicS3Dict(**s3_options(endpoint_url=own_s3_server.endpoint_url))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_count_up, args=(store.get_params(), 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
        assert p.exitcode == 0
    assert store["counter"] == 200


@pytest.mark.parametrize("cls", [sync.BasicS3Dict, sync.S3Dict])
def test_stores_pickle_into_a_process_pool(cls: type[sync.PersiDict[Any]], tmp_path: Any) -> None:
    extra = {"base_dir": str(tmp_path)} if cls is sync.S3Dict else {}
    store = cls(**s3_options(**extra))
    store.update({f"k{i}": i * i for i in range(6)})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get_params() == store.get_params() and clone["k2"] == 4
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_read_one, [(store, f"k{i}") for i in range(6)])
    assert results == [i * i for i in range(6)]


async def test_async_store_and_its_client_lifecycle() -> None:
    async with aio.BasicS3Dict(**s3_options()) as store:
        await store.set_item(("a", "b"), 1)
        sub = store.get_subdict("a")
        assert await sub.get_item("b") == 1 and sub._hub is store._hub
        assert [k async for k in store] == [("a", "b")]
    assert not store._hub._clients  # closed by `async with`
    assert await store.get_item(("a", "b")) == 1  # reopens on demand
    await store.aclose()


async def test_object_names_and_foreign_objects_ignored(s3_server: S3Server) -> None:
    options = s3_options(root_prefix="names")
    store = aio.BasicS3Dict(**options)
    await store.set_item(("x", "y.z"), "v")
    client = await store._hub.client()
    names = await _names(client, "names/")
    assert names == ["names/x/y.z.pkl"]
    # Objects this library did not write (other suffix, unsafe names) are not keys.
    for name in ("names/readme.txt", "names/bad key.pkl", "names/x/.pkl", "names/a%b.pkl"):
        await client.put_object(Bucket=options["bucket_name"], Key=name, Body=b"?")
    assert [k async for k in store] == [("x", "y.z")]
    assert await store.len() == 1
    await store.aclose()


async def _names(client: Any, prefix: str) -> list[str]:
    page = await client.list_objects_v2(Bucket=s3_options()["bucket_name"], Prefix=prefix)
    return [o["Key"] for o in page.get("Contents", ())]


async def test_conditional_support_probe_leaves_nothing_behind() -> None:
    options = s3_options()
    store = aio.BasicS3Dict(**options)
    assert store._hub.conditional_ok is None
    result = await store.set_item_if("k", value=1, condition=ETAG_IS_THE_SAME,
                                     expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert result.condition_was_satisfied and store._hub.conditional_ok is True
    client = await store._hub.client()
    assert await _names(client, options["root_prefix"]) == [options["root_prefix"] + "k.pkl"]
    await store.aclose()


async def test_conditional_writes_can_be_refused_by_flag() -> None:
    store = aio.BasicS3Dict(**s3_options(conditional_writes=False))
    await store.set_item("k", 1)  # plain writes need no condition
    with pytest.raises(BackendError, match="conditional"):
        await store.set_item_if("k", value=2, condition=ANY_ETAG, expected_etag="x")
    with pytest.raises(BackendError, match="conditional"):
        await store.transform_item("k", transformer=_increment)
    assert await store.get_item("k") == 1
    await store.aclose()


async def test_missing_bucket_is_a_backend_error() -> None:
    bucket = f"gone-{uuid.uuid4().hex[:12]}"
    store = aio.BasicS3Dict(**s3_options(bucket_name=bucket))
    await store.set_item("k", 1)  # creates the bucket
    client = await store._hub.client()
    await client.delete_object(Bucket=bucket, Key=store._name(store._key("k")))
    await client.delete_bucket(Bucket=bucket)
    with pytest.raises(BackendError) as info:
        await store.get_item("k")
    assert info.value.operation == "get_object" and info.value.key == ("k",)
    assert bucket in str(info.value)
    with pytest.raises(BackendError):
        await store.len()
    with pytest.raises(BackendError):
        await store.set_item("k", 2)
    await store.aclose()


def test_invalid_bucket_is_a_backend_error() -> None:
    with sync.BasicS3Dict(**s3_options(bucket_name="x")) as store, pytest.raises(BackendError):
        store["k"] = 1


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_server_down_fails_fast(api: str) -> None:
    params = s3_options(endpoint_url=f"http://127.0.0.1:{free_port()}")
    store: aio.BasicS3Dict[Any] = aio.BasicS3Dict(**params)
    start = time.monotonic()
    try:
        with pytest.raises(BackendError) as info:
            if api == "sync":
                sync.PersiDict.wrap(store)["k"]
            else:
                await store.get_item("k")
    finally:
        if api == "sync":
            sync.PersiDict.wrap(store).close()
        else:
            await store.aclose()
    assert time.monotonic() - start < 10
    assert "127.0.0.1" in str(info.value)


def test_missing_key_is_a_key_error() -> None:
    store = sync.BasicS3Dict(**s3_options())
    with pytest.raises(KeyError) as info:
        store["absent"]
    assert info.value.args[0] == ("absent",)
    assert store.get("absent", 7) == 7


def test_repr_hides_the_secret() -> None:
    store = aio.BasicS3Dict(**s3_options(aws_secret_access_key="s3cr3t", aws_access_key_id="id"))
    assert "s3cr3t" not in repr(store) and "aws_secret_access_key=<hidden>" in repr(store)
    assert store.get_params()["aws_secret_access_key"] == "s3cr3t"


def test_a_store_dropped_without_closing_closes_its_client() -> None:
    # aiohttp reports "Unclosed client session" for a session that is collected open.
    code = textwrap.dedent(f"""
        import gc, time, anyio
        import persidict_async as aio, persidict_sync as sync
        d = sync.BasicS3Dict(**{s3_options()!r})
        d["k"] = 1
        del d
        gc.collect()
        async def main():
            store = aio.BasicS3Dict(**{s3_options()!r})
            await store.set_item("k", 2)
            del store
            gc.collect()
            await anyio.sleep(0.5)
        anyio.run(main)
        time.sleep(0.5)
        print("done")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["done"], out.stderr
    assert "Unclosed" not in out.stderr, out.stderr


def test_importing_the_library_does_not_import_botocore() -> None:
    code = (
        "import sys, persidict_sync, persidict_async; "
        "s = persidict_sync.BasicS3Dict(bucket_name='b'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('aiobotocore', 'botocore')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
