"""The plain-Python file-per-key baseline: the physical limit of one file per key."""

from __future__ import annotations

import os
import pickle


def write_file(folder: str, name: str, data: bytes, durable: bool) -> None:
    """Temp file + write (+ fsync) + rename (+ folder fsync), nothing else."""
    tmp = f"{folder}/.tmp.{name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, f"{folder}/{name}.pkl")
    if durable:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_value(folder: str, name: str, value: object, durable: bool) -> None:
    """Pickle ``value`` and write it as ``folder/name.pkl``."""
    write_file(folder, name, pickle.dumps(value, protocol=5), durable)


def read_value(folder: str, name: str) -> object:
    """Open, read and unpickle ``folder/name.pkl``."""
    with open(f"{folder}/{name}.pkl", "rb") as f:
        return pickle.loads(f.read())


def list_names(folder: str) -> list[str]:
    """The names stored in ``folder`` (one directory scan)."""
    return [e.name[:-4] for e in os.scandir(folder) if e.name.endswith(".pkl")]
