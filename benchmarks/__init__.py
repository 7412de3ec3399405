"""Benchmarks of persidict-async (not part of the installed package)."""
