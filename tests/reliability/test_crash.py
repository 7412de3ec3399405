"""Item 2, crash: a writer killed with SIGKILL leaves old-or-new whole values and no stale temp files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import persidict_sync as sync
from persidict_async import files as files_module

from .support import check_value, make_value

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
N_THREADS, KEYS_PER_THREAD, SIZE = 4, 25, 200_000  # big values: the kill lands inside writes


def test_sigkill_during_durable_writes_keeps_old_or_new_values(tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=True)
    keys = [f"t{t}-k{i}" for t in range(N_THREADS) for i in range(KEYS_PER_THREAD)]
    store.update({key: make_value(key, 0, SIZE) for key in keys})
    (tmp_path / "bystander.pkl").write_bytes(b"not a key")  # a foreign file must survive too
    code = f"""
        from tests.reliability.workers import crash_writer
        crash_writer({str(tmp_path)!r}, {N_THREADS}, {KEYS_PER_THREAD}, {SIZE})
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    acked: dict[str, int] = {}
    try:
        # Kill it after 300 acknowledged writes: well inside the third round of rewrites.
        for _ in range(300):
            t, i, gen = child.stdout.readline().split()
            acked[f"t{t}-k{i}"] = int(gen)
        child.send_signal(signal.SIGKILL)
        for line in child.stdout:  # acknowledgements still in the pipe
            t, i, gen = line.split()
            acked[f"t{t}-k{i}"] = int(gen)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    # Each thread writes its keys in order: only the key after its last acknowledged
    # write may hold a newer value than acknowledged (the write the kill cut short).
    in_flight = set()
    for t in range(N_THREADS):
        last = max((acked.get(f"t{t}-k{i}", 0), i) for i in range(KEYS_PER_THREAD))
        in_flight.add(f"t{t}-k{(last[1] + 1) % KEYS_PER_THREAD}")
    reopened = sync.FileDirDict(base_dir=tmp_path, durable=True)
    for key in keys:
        gen = check_value(key, reopened[key])  # whole, never partial
        allowed = {acked.get(key, 0)} | ({acked.get(key, 0) + 1} if key in in_flight else set())
        assert gen in allowed, (key, gen, allowed)

    # The next store that lists the folder removes the killed writer's temporary files.
    assert sorted(k[0] for k in reopened) == sorted(keys)
    assert len(reopened) == len(keys)
    assert list(tmp_path.rglob(".#tmp.*")) == []
    assert (tmp_path / "bystander.pkl").read_bytes() == b"not a key"


def test_temp_files_of_live_writers_and_other_hosts_are_kept(tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)
    store["k"] = 1
    tag = files_module._HOST_TAG
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".#tmp.{tag}.{sleeper.pid:x}.{'0' * 16}"
        other_tag = "0" * 8 if tag != "0" * 8 else "1" * 8
        other_host = tmp_path / f".#tmp.{other_tag}.{sleeper.pid + 1:x}.{'1' * 16}"
        mine = tmp_path / f".#tmp.{tag}.{os.getpid():x}.{'2' * 16}"
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        gone = tmp_path / f".#tmp.{tag}.{int(dead.stdout):x}.{'3' * 16}"
        for path in (live, other_host, mine, gone):
            path.write_bytes(b"partial")
        assert list(store) == [("k",)]
        assert live.exists() and other_host.exists() and mine.exists()
        assert not gone.exists()  # its writer has exited
    finally:
        sleeper.kill()
        sleeper.wait()
