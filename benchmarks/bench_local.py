"""Sync LocalDict against a plain in-memory dict of pickled bytes (the floor).

Run: ``python -m benchmarks.bench_local``. Prints a Markdown table of medians
(microseconds per operation) and the ratios.
"""

from __future__ import annotations

import pickle
import statistics

import cloudpickle

from persidict_sync import LocalDict

from ._timing import per_call_us

VALUE = {"id": 12345, "name": "example item", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
N = 20_000
ROUNDS = 15


def main() -> None:
    """Measure and print the table."""
    plain: dict[str, bytes] = {}
    store: LocalDict[object] = LocalDict()
    keys = [f"key{i}" for i in range(1000)]
    counter = iter(range(10**9))

    def plain_set() -> None:
        plain[keys[next(counter) % 1000]] = pickle.dumps(VALUE, protocol=5)

    def plain_cloud_set() -> None:
        plain[keys[next(counter) % 1000]] = cloudpickle.dumps(VALUE, protocol=5)

    def plain_get() -> object:
        return pickle.loads(plain[keys[next(counter) % 1000]])

    def store_set() -> None:
        store[keys[next(counter) % 1000]] = VALUE

    def store_get() -> object:
        return store[keys[next(counter) % 1000]]

    for k in keys:
        plain[k] = pickle.dumps(VALUE, protocol=5)
        store[k] = VALUE
    contenders = {
        "set: dict + pickle.dumps": plain_set,
        "set: dict + cloudpickle.dumps": plain_cloud_set,
        "set: sync LocalDict": store_set,
        "get: dict + pickle.loads": plain_get,
        "get: sync LocalDict": store_get,
    }
    # Rounds interleave the contenders, so a busy moment of the machine hits them
    # all alike; each ratio is taken within a round and the median ratio quoted.
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(ROUNDS):
        for name, fn in contenders.items():
            times[name].append(per_call_us(fn, N, repeat=1)[0])
    print(f"value: {len(pickle.dumps(VALUE, protocol=5))} pickled bytes, {N} calls x {ROUNDS} rounds\n")
    print("| operation | median us | min | max |")
    print("|---|---|---|---|")
    for name, runs in times.items():
        print(f"| {name} | {statistics.median(runs):.3f} | {min(runs):.3f} | {max(runs):.3f} |")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    set_ratio = ratio("set: sync LocalDict", "set: dict + pickle.dumps")
    set_cloud = ratio("set: sync LocalDict", "set: dict + cloudpickle.dumps")
    get_ratio = ratio("get: sync LocalDict", "get: dict + pickle.loads")
    print(f"\nmedian ratio set vs pickle floor: {set_ratio:.2f}x | vs cloudpickle floor: {set_cloud:.2f}x"
          f" | get vs pickle floor: {get_ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
