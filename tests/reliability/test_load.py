"""Item 1, load: many processes and threads on one store lose no update and leave no partial value."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import persidict_sync as sync

from ..s3_server import ServerProcess, s3_options
from .support import check_value
from .workers import STORES, load_worker

pytestmark = pytest.mark.reliability

_SPAWN = multiprocessing.get_context("spawn")


def run_load(
    kind: str, params: dict[str, Any], n_procs: int, n_keys: int, n_counters: int, seconds: float
) -> tuple[Counter[str], int, list[str], list[str]]:
    """Run ``n_procs`` load workers (half through the async API, half the sync facade).

    Returns:
        The acknowledged increments per counter key, the number of operations,
        the counter keys and the other keys.
    """
    counters = [f"c{i}" for i in range(n_counters)]
    others = [f"d{i}" for i in range(n_keys - n_counters)]
    barrier = _SPAWN.Barrier(n_procs + 1)
    results = _SPAWN.Queue()
    procs = [
        _SPAWN.Process(target=load_worker, args=(kind, params, i % 2 == 0, counters, others, seconds,
                                                 barrier, results))
        for i in range(n_procs)
    ]  # fmt: skip
    for p in procs:
        p.start()
    try:
        barrier.wait(120)  # every worker imported and ready: the bounded run starts now
        reports = [results.get(timeout=seconds + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.exitcode is None:
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * n_procs
    errors = [e for r in reports for e in r["errors"]]
    assert errors == [], "exceptions leaked out of operations:\n" + "\n".join(errors)
    incs: Counter[str] = Counter()
    for r in reports:
        incs.update(r["incs"])
    return incs, sum(r["ops"] for r in reports), counters, others


def check_final_state(store: sync.PersiDict[Any], incs: Counter[str], counters: list[str]) -> None:
    """Every counter equals its acknowledged increments; every value is whole."""
    for key in counters:
        expected = incs[key]
        if expected == 0:
            assert key not in store
        else:
            assert check_value(key, store[key]) == expected, key
    listed = list(store.keys())
    assert len(listed) == len(store)
    for key, value in store.items():
        check_value(key[0], value)


def test_files_eight_processes_two_threads_random_ops(tmp_path: Path) -> None:
    params = {"base_dir": str(tmp_path), "durable": False}
    incs, ops, counters, _ = run_load("files", params, n_procs=8, n_keys=200, n_counters=40, seconds=3.0)
    assert ops > 1000 and sum(incs.values()) > 100  # the run did real work
    store = STORES["files"][1](**params)
    check_final_state(store, incs, counters)
    assert list(tmp_path.rglob(".#tmp.*")) == []  # every write finished or cleaned up


@pytest.mark.s3
def test_s3_four_processes_two_threads_random_ops(own_s3_server: ServerProcess) -> None:
    # SeaweedFS, not moto: moto checks If-Match and then writes without a lock, so
    # concurrent conditional writes to one object can both succeed there.
    params = s3_options(endpoint_url=own_s3_server.endpoint_url, connect_timeout=5, read_timeout=20)
    incs, ops, counters, _ = run_load("s3", params, n_procs=4, n_keys=40, n_counters=10, seconds=3.0)
    assert ops > 100 and sum(incs.values()) > 20
    with STORES["s3"][1](**params) as store:
        check_final_state(store, incs, counters)
