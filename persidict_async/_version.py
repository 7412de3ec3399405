"""The package version (single source for packaging)."""

__version__ = "0.1.0"
