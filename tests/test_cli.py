"""The command line, through the real console entry point in a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def persidict_command() -> list[str]:
    script = Path(sys.executable).with_name("persidict")
    return [str(script)] if script.exists() else [sys.executable, "-m", "persidict_sync"]


def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    out = subprocess.run([*persidict_command(), "demo"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "first claim won: True | second claim won: False" in out.stdout
    assert "counter = 3" in out.stdout and "sum of 100 values read concurrently: 4950" in out.stdout
    base_dir = out.stdout.split("files under ")[1].split(" ==")[0]
    assert not Path(base_dir).exists()


def test_module_entry_point_help() -> None:
    out = subprocess.run([sys.executable, "-m", "persidict_sync", "--help"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and "demo" in out.stdout


@pytest.mark.skipif(shutil.which("persidict") is None and not Path(sys.executable).with_name(
    "persidict").exists(), reason="console script not installed")  # fmt: skip
def test_unknown_command_fails_with_usage() -> None:
    out = subprocess.run([*persidict_command(), "frobnicate"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 2 and "usage:" in out.stderr
