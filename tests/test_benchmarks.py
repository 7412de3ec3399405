"""The benchmarks keep working: quick runs, and a loud failure without a peer."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PEERS = ("persidict", "diskcache", "sqlitedict", "nfsdict", "matplotlib")
MISSING = [name for name in PEERS if importlib.util.find_spec(name) is None]


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(bool(MISSING), reason=f"benchmark peers not installed: {MISSING}")
def test_quick_peers_run_writes_results(tmp_path: Path) -> None:
    out = _run("import sys; from benchmarks.bench_peers import main; main(sys.argv[1:])",
               "--quick", "--no-s3", "--out", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["machine"]["cores"] >= 1
    small = doc["sections"]["100 B"]
    assert set(small["get, new process (open + reads)"]) >= {"persidict-async", "nfsdict", "plain files"}
    assert "vs_limit" in doc["ratios"]["100 B"]["set, durable"]
    assert "c=64" in " ".join(doc["sections"]["fan-out, 100 KB"])
    assert "| operation |" in (tmp_path / "latest.md").read_text()
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


def test_missing_peer_fails_loudly() -> None:
    code = (
        "import sys; sys.modules['nfsdict'] = None; sys.modules['persidict'] = None\n"
        "from benchmarks.bench_peers import main; main(['--quick', '--no-s3', '--out', sys.argv[1]])"
    )
    out = _run(code, "unused-out-dir")
    assert out.returncode == 1
    assert "pip install persidict" in out.stderr


@pytest.mark.skipif(importlib.util.find_spec("diskcache") is None, reason="diskcache not installed")
def test_quick_cache_run_prints_the_table() -> None:
    out = _run("import sys; from benchmarks.bench_cache import main; main(sys.argv[1:])", "--quick")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| LRUCachedDict, validated (stat per hit) |" in out.stdout
    assert "| diskcache.Cache.get |" in out.stdout and "vs diskcache" in out.stdout
