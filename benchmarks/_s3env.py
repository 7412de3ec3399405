"""Shared S3 benchmark environment: a local S3 server and a 20 ms latency proxy."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.s3_server import _start, _stop, free_port

LATENCY = 0.020


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 delaying client-to-server bytes by ``latency`` seconds.

    Bytes keep their order and the delay does not accumulate across the chunks
    of one request, so each request costs one extra ``latency``.
    """

    def __init__(self, target_port: int, latency: float) -> None:
        self.target_port = target_port
        self.latency = latency
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    delay: float) -> None:  # fmt: skip
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.close()

        sender = asyncio.create_task(send())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + delay, data))
                if not data:
                    break
        except OSError:
            await queue.put((0.0, b""))
        await sender

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self._pipe(client_r, server_w, self.latency),
            self._pipe(server_r, client_w, 0.0),
            return_exceptions=True,
        )

    def start(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result()
        return f"http://127.0.0.1:{self.port}"


def _serve_proxy(target_port: int, latency: float, ready: Any) -> None:
    proxy = LatencyProxy(target_port, latency)
    ready.put(proxy.start())
    threading.Event().wait()


@contextlib.contextmanager
def proxy_process(target_port: int, latency: float) -> Iterator[str]:
    """Run the proxy in its own process, so it takes no CPU from the measured one."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=_serve_proxy, args=(target_port, latency, ready), daemon=True)
    proc.start()
    try:
        yield ready.get(timeout=30)
    finally:
        proc.terminate()
        proc.join()


@contextlib.contextmanager
def s3_server(kind: str) -> Iterator[str]:
    """Start an S3 server (``seaweedfs`` or ``moto``) on 127.0.0.1; yield its endpoint."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, endpoint, _ = _start(kind, Path(tmp))
        try:
            yield endpoint
        finally:
            _stop(proc)
