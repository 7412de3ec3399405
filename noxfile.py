"""Automation sessions: tests, lint, typecheck, bench, docs, s3_integration."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from dev import PYTEST_PHASES  # one definition of the suite's runs

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The full test suite (with arguments: one pytest run of those)."""
    session.install("-e", ".[dev]")
    if session.posargs:
        session.run("pytest", "-q", *session.posargs)
        return
    for phase in PYTEST_PHASES:
        session.run("pytest", "-q", *phase)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check (lint rules; formatting is not enforced)."""
    session.install("ruff")
    session.run("ruff", "check", "persidict_async", "persidict_sync", "tests", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over both packages."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "persidict_async", "persidict_sync")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (peers are installed here only, never as library dependencies)."""
    session.install("-e", ".[dev]", "persidict==0.309.0", "diskcache", "sqlitedict", "nfsdict")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site (mkdocs, strict) and run every example of the docs (tests/test_docs.py)."""
    session.install("-e", ".[docs,dev]")
    session.run("mkdocs", "build", "--strict", "-d", f"{session.create_tmp()}/site")
    session.run("pytest", "-q", "tests/test_docs.py", *session.posargs)


@nox.session
def s3_integration(session: nox.Session) -> None:
    """The S3 contract and S3 tests against SeaweedFS (``weed mini`` on 127.0.0.1)."""
    session.install("-e", ".[dev]")
    session.run(
        "pytest", "-q", "tests/test_contract.py", "tests/test_conditional.py",
        "tests/test_contract_append_only.py", "tests/test_expiry.py", "tests/test_signing.py",
        "tests/test_s3.py",
        "-k", "s3", "--s3-server=seaweedfs", *session.posargs,
    )  # fmt: skip
