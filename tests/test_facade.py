"""The sync facade's driver: inline for local stores, the portal for network stores."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_sync import _driver

from .netstore import NetDict, SyncNetDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)  # fmt: skip


def test_works_like_a_dict_in_a_plain_script() -> None:
    out = run_script("""
        from persidict_sync import LocalDict
        d = LocalDict()
        d["a"] = 1
        d[("b", "c")] = [2]
        d |= {"e": 5}
        assert d["a"] == 1 and ("b", "c") in d and len(d) == 3 and bool(d)
        assert d == {"a": 1, ("b", "c"): [2], "e": 5}
        assert sorted(d.values(), key=repr) == [1, 5, [2]]
        del d["a"]
        assert d.pop("e") == 5 and list(d.items()) == [(("b", "c"), [2])]
        d.clear()
        assert not d and d == {}
        print("ok")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_facade_exposes_the_async_store() -> None:
    d = sync.LocalDict(serialization_format="json")
    assert isinstance(d.aio, aio.LocalDict)
    assert d.serialization_format == "json" and d.root_prefix == ()
    assert isinstance(d.backend, aio.MemoryBackend)
    wrapped = sync.PersiDict.wrap(d.aio)
    assert type(wrapped) is sync.LocalDict and wrapped.aio is d.aio
    assert type(d.get_subdict("x")) is sync.LocalDict
    with pytest.raises(AttributeError):
        d.aclose  # noqa: B018 - coroutine methods do not show through
    assert d != {"x": 1} and d == {} and (d == 5) is False


def test_local_stores_run_inline_without_threads_or_loops() -> None:
    before = threading.active_count()
    d = sync.LocalDict()
    for i in range(100):
        d[f"k{i}"] = i
    assert sum(d.get_many([f"k{i}" for i in range(100)])) == 4950
    assert threading.active_count() == before


def test_local_reads_skip_the_coroutine_but_never_an_override() -> None:
    plain = sync.LocalDict()
    plain["k"] = 1
    # A plain local read is a direct call: the async get_item is not even entered.
    plain.aio.get_item = None  # type: ignore[assignment,method-assign]
    assert plain["k"] == 1 and plain.get("k") == 1 and plain.get("nope", 7) == 7
    with pytest.raises(KeyError):
        plain["nope"]

    class Audited(aio.LocalDict[Any]):
        """Overrides the async read only: the facade must still go through it."""

        seen: ClassVar[list[tuple[str, ...]]] = []

        async def _read_data(self, key: Any) -> bytes | None:
            Audited.seen.append(key)
            return await super()._read_data(key)

    class NewGet(aio.LocalDict[Any]):
        async def get_item(self, key: Any) -> Any:
            return "overridden"

    assert not Audited._reads_now and aio.LocalDict._reads_now and NewGet._reads_now
    audited = sync.PersiDict.wrap(Audited())
    audited["k"] = 2
    assert audited["k"] == 2 and audited.get("k") == 2 and Audited.seen == [("k",), ("k",)]
    new_get = sync.PersiDict.wrap(NewGet())
    new_get["k"] = 3
    assert new_get["k"] == "overridden"  # an overridden get_item is honoured


def test_many_threads_at_once() -> None:
    d: sync.LocalDict[Any] = sync.LocalDict()

    def work(t: int) -> None:
        for i in range(300):
            d[("t", str(t), str(i))] = i
            assert d[("t", str(t), str(i))] == i
            d.transform_item("counter", transformer=lambda v: 1 if v is sync.ITEM_NOT_AVAILABLE else v + 1,
                             n_retries=None)  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(16)))
    assert d["counter"] == 16 * 300
    assert len(d) == 16 * 300 + 1


def test_many_threads_on_the_portal() -> None:
    d = SyncNetDict()
    d.set_many({f"k{i}": i for i in range(200)})

    def work(t: int) -> int:
        return sum(d[f"k{i}"] for i in range(200)) + t * 0

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(work, range(64))) == {sum(range(200))}


async def test_sync_facade_inside_a_running_event_loop() -> None:
    # A notebook cell: sync calls from code that runs inside an event loop.
    asyncio.get_running_loop()
    d = sync.LocalDict()
    d["a"] = 1
    assert d["a"] == 1 and list(d) == [("a",)]
    net = SyncNetDict()
    net["b"] = 2
    assert net["b"] == 2 and list(net.values()) == [2]
    assert "persidict-portal" in NetDict.threads


def test_network_stores_run_on_one_portal_thread() -> None:
    NetDict.threads.clear()
    d = SyncNetDict()
    d["a"] = 1
    assert d["a"] == 1
    assert NetDict.threads == {"persidict-portal"}
    d2 = SyncNetDict()
    d2["b"] = 2
    assert d2["b"] == 2
    assert [t.name for t in threading.enumerate()].count("persidict-portal") == 1


def test_iteration_of_network_stores_is_paged() -> None:
    d = SyncNetDict()
    n = _driver.PAGE_SIZE * 2 + 3
    d.set_many({f"k{i:04d}": i for i in range(n)})
    assert sorted(v for v in d.values()) == list(range(n))
    assert len(list(d.keys())) == n == len(d)


def test_keyboard_interrupt_cancels_the_portal_coroutine() -> None:
    d = SyncNetDict()
    d["slow"] = 1
    cancelled = threading.Event()
    original = NetDict._read

    async def watched(self: Any, key: Any, if_none_match: Any = None) -> Any:
        try:
            return await original(self, key, if_none_match)
        except BaseException:
            cancelled.set()
            raise

    # A real SIGINT, as Ctrl-C sends: it interrupts the wait for the portal.
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    NetDict._read = watched  # type: ignore[method-assign]
    try:
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            d["slow"]
        assert time.monotonic() - started < 10
    finally:
        NetDict._read = original  # type: ignore[method-assign]
        timer.cancel()
    assert cancelled.wait(5)
    assert d.get("other") is None  # the portal still works afterwards


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_calls_work_in_a_forked_child() -> None:
    local = sync.LocalDict()
    local["a"] = 1
    net = SyncNetDict()
    net["b"] = 2  # starts the portal in the parent
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            ok = local["a"] == 1 and net["b"] == 2
            net["c"] = 3
            ok = ok and net["c"] == 3 and "persidict-portal" in {t.name for t in threading.enumerate()}
            os.write(write_end, b"ok" if ok else b"bad")
        except BaseException as exc:  # report anything to the parent
            os.write(write_end, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read_end, 1000)
    os.close(read_end)
    assert answer == b"ok" and status == 0
    assert net["b"] == 2  # the parent's portal is untouched


def _child_job(store: Any) -> int:
    store["from-child"] = os.getpid()
    return int(store["from-child"])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children(method: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        pids = pool.map(_child_job, [SyncNetDict(), sync.LocalDict()])
    assert all(isinstance(p, int) and p != os.getpid() for p in pids)


def test_interpreter_exit_closes_network_stores_and_does_not_hang() -> None:
    out = run_script("""
        from tests.netstore import SyncNetDict
        d = SyncNetDict()
        d["a"] = 1
        assert d["a"] == 1
        print("done", flush=True)
    """, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["done", "closed"]


def test_import_does_not_load_s3_clients() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import persidict_sync"],
                         capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    assert "botocore" not in out.stderr and "aiobotocore" not in out.stderr
    assert "persidict_sync" in out.stderr


def test_store_context_manager_closes() -> None:
    before = NetDict.closed
    with SyncNetDict() as d:
        d["a"] = 1
    assert NetDict.closed == before + 1
