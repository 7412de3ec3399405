#!/usr/bin/env python3
"""Project entry point that needs only Python: it makes .venv and installs into it.

    python3 dev.py demo      # a short tour of the library on a temporary local store
    python3 dev.py test      # the full test suite (what CI runs); extra args: one pytest run
    python3 dev.py docs      # build the documentation site (mkdocs, strict) into a temporary folder
    python3 dev.py nox -s lint typecheck bench   # any nox session
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".installed"
DOCS_STAMP = VENV / ".installed-docs"
# The full suite in two runs: everything but the reliability tests on two worker
# processes (the suite is CPU-bound: client and S3 server), then the reliability
# tests alone, so that their load, crash and timeout scenarios own the machine.
PYTEST_PHASES = (
    ["-n", "2", "-m", "not reliability"],
    ["-m", "reliability"],
)


def ensure_env() -> None:
    """Create .venv and install the project with its dev extra (once per pyproject change)."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing persidict-async[dev] into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(digest)


def ensure_docs_env() -> None:
    """Install the docs extra into .venv (once per pyproject change)."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if DOCS_STAMP.exists() and DOCS_STAMP.read_text() == digest:
        return
    print("installing persidict-async[docs] into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", f"{ROOT}[docs,dev]"], check=True)
    DOCS_STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "docs", "nox"):
        print(__doc__)
        return 2
    ensure_env()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        args = [str(PY), "-m", "persidict_sync", "demo", *rest]
    elif command == "test":
        pytest = [str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        if rest:  # a chosen subset: one plain run
            return subprocess.run([*pytest, *rest], cwd=ROOT).returncode
        for phase in PYTEST_PHASES:
            code = subprocess.run([*pytest, *phase], cwd=ROOT).returncode
            if code:
                return code
        return 0
    elif command == "docs":
        ensure_docs_env()
        with tempfile.TemporaryDirectory() as site:
            build = [str(PY), "-m", "mkdocs", "build", "--strict", "-q", "-d", site, *rest]
            return subprocess.run(build, cwd=ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}).returncode
    else:
        args = [str(PY), "-m", "nox", *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
