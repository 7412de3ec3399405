"""The ``persidict`` command-line tool."""

from __future__ import annotations

import argparse
import sys

from . import _demo


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``persidict`` command."""
    parser = argparse.ArgumentParser(
        prog="persidict", description="Inspect, edit and copy persistent dictionaries."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="a short tour on a temporary local store")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo.run(sys.stdout)
    return 2  # pragma: no cover - argparse rejects unknown commands
