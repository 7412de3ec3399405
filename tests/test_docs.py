"""Every example of the README and of docs/**/*.md runs, so examples cannot rot.

- ```python blocks (README and docs) are executed in a temporary working
  directory; the blocks of one page run in order in one namespace.
- ```bash blocks of docs/ pages are run by bash (``set -euo pipefail``) with the
  test interpreter's scripts (``persidict``) first on PATH. The README's bash
  blocks are setup commands (``python3 dev.py ...``) and are not run here.
- A block that talks to S3 (it names an S3 store or an ``s3://`` URL) runs with
  the session's S3 server on 127.0.0.1: AWS_ENDPOINT_URL and fake credentials
  point at it, so no example can reach the network.
- Blocks that are not meant to run use another fence (```text, ```console).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("**/*.md"))]
# A fence may be indented (inside a tab or an admonition): the block is dedented.
BLOCK = re.compile(r"^([ \t]*)```(python|bash)\n(.*?)^\1```", re.S | re.M)
NEEDS_S3 = re.compile(r"S3Dict|s3://")


def _blocks() -> list[tuple[str, str, str]]:
    """(where, language, code) of every block to run; a page's python blocks form one item."""
    found = []
    for page in PAGES:
        name = str(page.relative_to(ROOT))
        python = []
        for i, (_, lang, code) in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            code = textwrap.dedent(code)
            if lang == "python":
                python.append((f"{name}#{i}", code))
            elif page != README:
                found.append((f"{name}#{i}", lang, code))
        if python:
            # The python blocks of a page run in order in one namespace, so a later
            # block may use what an earlier one defined (as a reader would).
            found.append((name, "python", "\n".join(f"# {w}\n{c}" for w, c in python)))
    return found


BLOCKS = _blocks()


def test_docs_have_examples() -> None:
    # Guards the pattern above: a silently empty parametrisation would test nothing.
    assert sum(1 for where, _, _ in BLOCKS if where.startswith("docs")) >= 8


@pytest.mark.parametrize("where, lang, code", BLOCKS, ids=[w for w, _, _ in BLOCKS])
def test_example_runs(
    where: str, lang: str, code: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    if NEEDS_S3.search(code):
        request.getfixturevalue("s3_server")  # sets AWS_ENDPOINT_URL and fake credentials
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    if lang == "python":
        exec(compile(code, where, "exec"), {"__name__": "__doc_example__"})
        return
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + code],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
