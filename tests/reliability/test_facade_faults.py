"""Item 6, facade faults, on real S3 stores: Ctrl-C, fork, interpreter exit, many threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync

from ..s3_server import ServerProcess, s3_options
from .support import bump, check_value, make_value

pytestmark = [pytest.mark.reliability, pytest.mark.s3]

ROOT = Path(__file__).resolve().parents[2]


def test_keyboard_interrupt_cancels_a_hanging_s3_call(
    own_s3_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sync.BasicS3Dict(**s3_options(endpoint_url=own_s3_server.endpoint_url, read_timeout=60))
    store["k"] = make_value("k", 1)
    cancelled = threading.Event()
    real_call = aio.BasicS3Dict._call

    async def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await real_call(self, *args, **kwargs)
        except BaseException as exc:
            if type(exc).__name__ == "CancelledError":
                cancelled.set()
            raise

    monkeypatch.setattr(aio.BasicS3Dict, "_call", watched)
    own_s3_server.pause()  # the request below waits for an answer that never comes
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C sends
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            store["k"]
        assert cancelled.wait(10)  # the request's coroutine was cancelled, not left running
    finally:
        timer.cancel()
        own_s3_server.resume()
    assert check_value("k", store["k"]) == 1  # the portal and the store still work
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.usefixtures("s3_server")
def test_s3_store_works_in_a_forked_child() -> None:
    store = sync.BasicS3Dict(**s3_options())
    store["parent"] = make_value("parent", 1)  # the parent's portal and client are open
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new portal and a new client, the same data
        try:
            os.close(read_end)
            ok = check_value("parent", store["parent"]) == 1
            store["child"] = make_value("child", 2)
            store.transform_item("parent", transformer=bump("parent"))
            os.write(write_end, b"ok" if ok else b"bad")
        except BaseException as exc:
            os.write(write_end, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as answer:
        assert answer.read() == b"ok" and status == 0
    assert check_value("child", store["child"]) == 2
    assert check_value("parent", store["parent"]) == 2  # the parent's client still works
    store.close()


def test_interpreter_exit_with_open_s3_stores_does_not_hang(own_s3_server: ServerProcess) -> None:
    # Stores with open clients, one of them in the middle of a call to a frozen server.
    code = f"""
        import sys, threading
        import persidict_sync as sync
        opts = dict(bucket_name="persidict-tests", endpoint_url={own_s3_server.endpoint_url!r},
                    read_timeout=60)
        stores = [sync.BasicS3Dict(root_prefix=f"exit{{i}}/", **opts) for i in range(3)]
        for i, s in enumerate(stores):
            s["k"] = i
        print("ready", flush=True)
        sys.stdin.readline()  # the server is frozen now
        threading.Thread(target=lambda: stores[0]["k"], daemon=True).start()
        print("exiting", flush=True)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        own_s3_server.pause()
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=60)  # exit closes clients within bounded time
    finally:
        own_s3_server.resume()
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    assert out.split() == ["exiting"]


def test_thousands_of_calls_from_sixteen_threads(own_s3_server: ServerProcess) -> None:
    # SeaweedFS, not moto: moto checks If-Match and then writes without a lock, so
    # concurrent conditional writes to one object can both succeed there.
    store = sync.BasicS3Dict(**s3_options(endpoint_url=own_s3_server.endpoint_url))

    def work(t: int) -> int:
        done = 0
        for i in range(60):
            key = f"t{t}-{i % 20}"
            store[key] = make_value(key, i)
            assert check_value(key, store[key]) == i  # each thread reads its own write
            done += 2
        for _ in range(5):
            store.transform_item("shared", transformer=bump("shared"), n_retries=None)
            done += 1
        return done

    with ThreadPoolExecutor(16) as pool:
        calls = sum(pool.map(work, range(16)))
    assert calls >= 2000
    assert check_value("shared", store["shared"]) == 16 * 5
    assert len(store) == 16 * 20 + 1
    assert sorted(store.get_many([f"t3-{i}" for i in range(20)]), key=lambda v: v["n"])[-1]["n"] == 59
    store.close()
