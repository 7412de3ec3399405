"""Fixtures that start a real S3 server on 127.0.0.1 for the test session.

The server is ``moto_server`` unless ``--s3-server=seaweedfs`` (or the environment
variable PERSIDICT_S3_SERVER=seaweedfs) selects SeaweedFS's ``weed mini``. The
fixture points the AWS environment at it with fake credentials, so nothing can
reach the real AWS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

S3_SERVER_ENV = "PERSIDICT_S3_SERVER"
TEST_BUCKET = "persidict-tests"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3")


@dataclass(frozen=True)
class S3Server:
    """A running server: its kind ("moto" or "seaweedfs") and endpoint URL."""

    kind: str
    endpoint_url: str


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--s3-server",
        choices=("moto", "seaweedfs"),
        default=None,
        help=f"S3 server for the S3 tests (default: ${S3_SERVER_ENV} or moto)",
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tool(name: str) -> str:
    # Console scripts live next to the interpreter running the tests (the venv).
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"S3 server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"S3 server did not answer at {url} within {timeout}s:\n"
                       f"{log.read_text()[-3000:]}")  # fmt: skip


def _command(kind: str, workdir: Path, port: int) -> list[str]:
    if kind == "moto":
        return [_tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    data = workdir / "weed-data"
    data.mkdir(exist_ok=True)
    ports = [free_port() for _ in range(12)]
    return [
        _tool("weed"), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={port}", f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
        f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}",
        f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
        f"-s3.port.grpc={ports[6]}", f"-admin.port={ports[7]}",
        f"-admin.port.grpc={ports[8]}", f"-debug.port={ports[9]}",
        f"-webdav.port={ports[10]}", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip


class ServerProcess:
    """An S3 server process that can be stopped, killed, paused and started again.

    It always starts with the same command line (so on the same ports and, for
    SeaweedFS, over the same data folder, which survives a restart).
    """

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.log = workdir / f"{kind}.log"
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._cmd = _command(kind, workdir, self.port)
        self._cwd = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it answers HTTP."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self._cmd, cwd=self._cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(self.endpoint_url + "/", self.proc, self.log, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc is not None:
            self.resume()  # a paused process cannot act on SIGTERM
            _stop(self.proc)
            self.proc = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)


def _start(kind: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    server = ServerProcess(kind, workdir)
    server.start()
    assert server.proc is not None
    return server.proc, server.endpoint_url, server.log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def aws_env(endpoint_url: str) -> Iterator[None]:
    """Point the AWS environment at a local endpoint with fake credentials."""
    saved = {k: os.environ.get(k) for k in (*_ENV, *_UNSET, "AWS_ENDPOINT_URL")}
    os.environ.update(_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    for name in _UNSET:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """Start the S3 server once per session; the environment points at it."""
    kind = request.config.getoption("--s3-server") or os.environ.get(S3_SERVER_ENV) or "moto"
    if kind not in ("moto", "seaweedfs"):
        raise pytest.UsageError(f"{S3_SERVER_ENV} must be moto or seaweedfs, got {kind!r}")
    proc, endpoint, _ = _start(kind, tmp_path_factory.mktemp(f"s3-{kind}"))
    try:
        with aws_env(endpoint):
            yield S3Server(kind, endpoint)
    finally:
        _stop(proc)


def unique_prefix() -> str:
    """A root_prefix no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}/"


def s3_options(**options: Any) -> dict[str, Any]:
    """Constructor arguments for a fresh S3 store on the session's server."""
    options.setdefault("bucket_name", TEST_BUCKET)
    options.setdefault("root_prefix", unique_prefix())
    options.setdefault("endpoint_url", os.environ["AWS_ENDPOINT_URL"])
    return options


@pytest.fixture
def own_s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """An S3 server of this test alone, which the test may stop, kill, pause and restart.

    SeaweedFS by default (it keeps its data on disk across a restart); a test may
    ask for moto with ``@pytest.mark.parametrize("own_s3_server", ["moto"], indirect=True)``.
    The AWS environment points at it for the test's duration.
    """
    kind = getattr(request, "param", "seaweedfs")
    server = ServerProcess(kind, tmp_path_factory.mktemp(f"own-{kind}"))
    server.start()
    try:
        with aws_env(server.endpoint_url):
            yield server
    finally:
        server.kill()  # its data is thrown away: no need for a clean shutdown
