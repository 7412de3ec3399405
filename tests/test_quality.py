"""The code stays lint-clean and passes mypy --strict (both packages)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def test_ruff() -> None:
    out = subprocess.run([_tool("ruff"), "check", "persidict_async", "persidict_sync", "tests",
                          "benchmarks"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict() -> None:
    out = subprocess.run([_tool("mypy"), "--strict", "persidict_async", "persidict_sync"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "persidict_async" / "py.typed").exists()
    assert (ROOT / "persidict_sync" / "py.typed").exists()
